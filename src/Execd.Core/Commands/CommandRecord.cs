namespace Execd.Core.Commands;

/// <summary>A command the daemon knows: what was asked, how it is going, and its output log.</summary>
public sealed class CommandRecord : ICommandContext
{
    private readonly TaskCompletionSource<int?> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<CommandExit> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();

    internal CommandRecord(CommandSpec spec, OutputLog log, DateTimeOffset startedAt)
    {
        Spec = spec;
        Log = log;
        StartedAt = startedAt;
    }

    public string Id => Spec.Id;
    public CommandSpec Spec { get; }
    public OutputLog Log { get; }
    public DateTimeOffset StartedAt { get; }
    public DateTimeOffset? FinishedAt { get; private set; }
    public CommandExit? Exit { get; private set; }
    public int? ProcessId { get; private set; }
    public bool Running => Exit is null;

    /// <summary>Why the command was stopped (<c>timeout</c>, <c>interrupt</c>), if it was.</summary>
    public string? StopReason { get; private set; }

    /// <summary>Whether the executor failed to start the command.</summary>
    public bool StartFailed { get; private set; }

    /// <summary>Completes with the process id once the command runs, or with null if it could not start.</summary>
    public Task<int?> Started => _started.Task;

    /// <summary>Completes when the command has ended and its output log is complete.</summary>
    public Task<CommandExit> Finished => _finished.Task;

    internal CancellationToken StopToken => _stop.Token;

    IOutputWriter ICommandContext.Output => Log;

    /// <summary>The write end of the child's stdin, while the command runs with <c>"stdin": true</c> and the client has not closed it.</summary>
    public CommandStdin? Stdin { get; private set; }

    void ICommandContext.AttachStdin(Stream stdin) => Stdin = new CommandStdin(stdin);

    void ICommandContext.ReportStarted(int? processId)
    {
        ProcessId = processId;
        _started.TrySetResult(processId);
    }

    /// <summary>Asks the executor to stop the command; the first reason wins.</summary>
    public void Stop(string reason)
    {
        lock (_stop)
        {
            StopReason ??= reason;
        }
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished.
        }
    }

    internal void StopAfter(TimeSpan timeout)
    {
        var timer = new CancellationTokenSource(timeout);
        timer.Token.Register(() => Stop("timeout"));
        _ = _finished.Task.ContinueWith(_ => timer.Dispose(), TaskScheduler.Default);
    }

    internal void Finish(CommandExit exit, DateTimeOffset at, bool startFailed)
    {
        StartFailed = startFailed;
        FinishedAt = at;
        ProcessId = null;
        Stdin?.Close();
        Exit = exit;
        Log.Complete();
        _started.TrySetResult(null);
        _finished.TrySetResult(exit);
        _stop.Dispose();
    }
}

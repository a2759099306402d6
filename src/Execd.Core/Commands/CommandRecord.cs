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

    /// <summary>A command a previous daemon ran, re-indexed from its durable record: already ended.</summary>
    internal CommandRecord(CommandSpec spec, OutputLog log, DateTimeOffset startedAt, DateTimeOffset finishedAt, CommandExit exit,
        CommandState state, bool startFailed, string? stopReason, int? lastProcessId)
    {
        Spec = spec;
        Log = log;
        StartedAt = startedAt;
        FinishedAt = finishedAt;
        Exit = exit;
        State = state;
        StartFailed = startFailed;
        StopReason = stopReason;
        LastProcessId = lastProcessId;
        _started.TrySetResult(null);
        _finished.TrySetResult(exit);
        _stop.Dispose();
    }

    /// <summary>Running, finished, or (re-indexed after a restart) lost, orphaned or damaged.</summary>
    public CommandState State { get; private set; } = CommandState.Running;

    /// <summary>The process id (and process group) the command ran as; kept in the durable record for a later re-adoption.</summary>
    public int? LastProcessId { get; private set; }

    /// <summary>
    /// The inode numbers of the command's stdout and stderr pipes while it runs in capture mode (see <see cref="CommandSpec.CaptureDirectory"/>):
    /// kept in the durable record, so a restarted daemon finds the same pipes in <c>/proc</c> and reads on.
    /// </summary>
    internal (long Stdout, long Stderr)? CapturePipes { get; set; }

    /// <summary>Where the durable record was last written (the journal's bookkeeping).</summary>
    internal object? RecordStore { get; set; }

    /// <summary>Held while the journal writes this command's record: one write at a time, in order.</summary>
    internal object JournalGate { get; } = new();

    /// <summary>The command was forgotten (retention) and its record deleted: nothing writes it again.</summary>
    internal bool RecordForgotten { get; set; }

    /// <summary>
    /// A run journal may be beside its record (this daemon appended to it, or a previous daemon ran the command): the journal deletes
    /// it once a record that is not running holds every run, and only then (no file to unlink for most commands).
    /// </summary>
    internal bool MayHaveRunJournal { get; set; }

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

    private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes after <see cref="Finished"/>, once the output is sealed and the end record written (a stopping daemon waits for it).</summary>
    internal Task Settled => _settled.Task;

    internal void MarkSettled() => _settled.TrySetResult();

    internal CancellationToken StopToken => _stop.Token;

    IOutputWriter ICommandContext.Output => Log;

    /// <summary>The write end of the child's stdin, while the command runs with <c>"stdin": true</c> and the client has not closed it.</summary>
    public CommandStdin? Stdin { get; private set; }

    void ICommandContext.AttachStdin(Stream stdin) => Stdin = new CommandStdin(stdin);

    void ICommandContext.ReportCapturePipes(System.Runtime.InteropServices.SafeHandle stdoutReadEnd, System.Runtime.InteropServices.SafeHandle stderrReadEnd) =>
        CapturePipes = AdoptedProcess.PipesOf(stdoutReadEnd, stderrReadEnd);

    void ICommandContext.ReportStarted(int? processId)
    {
        ProcessId = processId;
        LastProcessId = processId;
        _started.TrySetResult(processId);
        StartedReported?.Invoke(this);
    }

    /// <summary>Raised once the executor reported the process (the journal records the pid).</summary>
    internal event Action<CommandRecord>? StartedReported;

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
        State = CommandState.Finished;
        // The final event waits for every byte to be in the log, not for the device: the caller seals the log (fsync) next.
        Log.CompleteUnsealed();
        _started.TrySetResult(null);
        _finished.TrySetResult(exit);
        _stop.Dispose();
    }
}

/// <summary>Where a command is in its life, as status reports it.</summary>
public enum CommandState
{
    /// <summary>Running now, in this daemon.</summary>
    Running,

    /// <summary>Ended; exit code and output are final.</summary>
    Finished,

    /// <summary>Was running when the previous daemon died; its end is unknown (not re-adopted).</summary>
    Lost,

    /// <summary>Its durable record was corrupted or truncated; what is known is reported.</summary>
    Damaged,

    /// <summary>
    /// Was running when the previous daemon died and ended while no daemon ran: its exit code is its own (its shell wrote it down),
    /// but output it wrote after that daemon stopped may be missing (a FIFO's contents vanish with its last descriptor).
    /// </summary>
    Orphaned,
}

using System.Management.Automation;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Pwsh = System.Management.Automation.PowerShell;

namespace Execd.Executors.PowerShell;

/// <summary>
/// Runs a command's text as a PowerShell script in the daemon's runspace pool (<c>"executor":"pwsh"</c>).
/// Output objects are rendered as <c>Out-String -Stream</c> lines on stdout; error, warning, verbose and
/// debug records go to stderr; information records (<c>Write-Host</c>) to stdout. The exit code is
/// <c>exit N</c>, else a non-zero <c>$LASTEXITCODE</c>, else 1 after a terminating error, else 0.
/// </summary>
internal sealed class PowerShellExecutor(PowerShellPool pool, ILogger<PowerShellExecutor> logger) : ICommandExecutor
{
    // Runs the script in a child scope of a fresh local scope, so one script's variables and functions
    // never leak into the next script that gets the same runspace; the location is reset every time.
    private const string Wrapper = """
        param($__execd_run, [string]$__execd_cwd, [string]$__execd_script)
        $__execd_run.Enter()
        $global:LASTEXITCODE = 0
        Set-Location -LiteralPath $__execd_cwd
        & ([scriptblock]::Create($__execd_script)) | Out-String -Stream -Width 4096
        $__execd_run.SetLastExitCode($global:LASTEXITCODE)
        """;

    /// <summary>How long a stopped pipeline gets to end before the executor gives up on it.</summary>
    internal static TimeSpan StopGrace { get; set; } = TimeSpan.FromSeconds(2);

    public string Name => "pwsh";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        if (spec.Uid is not null)
        {
            throw new CommandStartException("the pwsh executor runs scripts inside the daemon and cannot switch to another user");
        }
        System.Management.Automation.Runspaces.RunspacePool runspaces;
        try
        {
            runspaces = pool.Get();
        }
        catch (ObjectDisposedException)
        {
            throw new CommandStartException("the daemon is shutting down");
        }

        var lines = Channel.CreateUnbounded<(OutputStream Stream, string Text)>(new UnboundedChannelOptions { SingleReader = true });
        var pump = PumpAsync(lines.Reader, context.Output);
        var run = new ScriptRun();
        var ps = Pwsh.Create();
        ps.RunspacePool = runspaces;
        ps.AddScript(Wrapper, useLocalScope: true)
            .AddArgument(run)
            .AddArgument(spec.WorkingDirectory ?? Environment.CurrentDirectory)
            .AddArgument(spec.Command);
        var output = new PSDataCollection<PSObject>();
        // DataAdded runs on the pipeline thread in the order records are written: one channel keeps that order.
        output.DataAdded += (_, e) => lines.Writer.TryWrite((OutputStream.Stdout, output[e.Index]?.ToString() ?? ""));
        Route(ps.Streams.Error, OutputStream.Stderr, r => r.ToString(), lines.Writer);
        Route(ps.Streams.Warning, OutputStream.Stderr, r => "WARNING: " + r.Message, lines.Writer);
        Route(ps.Streams.Verbose, OutputStream.Stderr, r => "VERBOSE: " + r.Message, lines.Writer);
        Route(ps.Streams.Debug, OutputStream.Stderr, r => "DEBUG: " + r.Message, lines.Writer);
        Route(ps.Streams.Information, OutputStream.Stdout, r => r.MessageData?.ToString() ?? "", lines.Writer);

        context.ReportStarted(null);
        var invocation = ps.InvokeAsync<PSObject, PSObject>(null, output);
        var ended = invocation.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var stopRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (stop.Register(() =>
        {
            stopRequested.TrySetResult();
            try
            {
                ps.BeginStop(null, null);
            }
            catch (ObjectDisposedException)
            {
            }
        }))
        {
            await Task.WhenAny(ended, stopRequested.Task).ConfigureAwait(false);
            if (!ended.IsCompleted && await Task.WhenAny(ended, Task.Delay(StopGrace, CancellationToken.None)).ConfigureAwait(false) != ended)
            {
                // Stuck in a call that does not honour stopping (e.g. [Thread]::Sleep): report the command as killed
                // and let the pipeline end on its own; disposing it now would block on the same call.
                logger.LogWarning("PowerShell command {Id} did not stop within {Grace}; abandoning its pipeline", spec.Id, StopGrace);
                _ = ended.ContinueWith(_ => ps.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                lines.Writer.TryComplete();
                await pump.ConfigureAwait(false);
                return CommandExit.FromSignal("killed");
            }
        }

        var exit = Outcome(invocation, run, stop.IsCancellationRequested, lines.Writer);
        ps.Dispose();
        lines.Writer.TryComplete();
        await pump.ConfigureAwait(false);
        return exit;
    }

    private static CommandExit Outcome(Task invocation, ScriptRun run, bool stopped, ChannelWriter<(OutputStream, string)> lines)
    {
        var error = invocation.Exception?.GetBaseException();
        if (run.Exit is { } code)
        {
            return CommandExit.FromExitCode(code);
        }
        if (error is PipelineStoppedException || (stopped && error is not null))
        {
            return CommandExit.FromSignal("terminated");
        }
        if (error is not null)
        {
            // A terminating error: what pwsh prints, then exit 1 as pwsh -c does.
            var message = error is IContainsErrorRecord { ErrorRecord: { } record } ? record.ToString() : error.Message;
            lines.TryWrite((OutputStream.Stderr, message));
            return CommandExit.FromExitCode(1);
        }
        return CommandExit.FromExitCode(run.LastExitCode);
    }

    private static void Route<T>(PSDataCollection<T> stream, OutputStream target, Func<T, string> render, ChannelWriter<(OutputStream, string)> lines) =>
        stream.DataAdded += (_, e) => lines.TryWrite((target, render(stream[e.Index])));

    private static async Task PumpAsync(ChannelReader<(OutputStream Stream, string Text)> lines, IOutputWriter output)
    {
        var buffer = new StringBuilder();
        await foreach (var (stream, text) in lines.ReadAllAsync().ConfigureAwait(false))
        {
            buffer.Clear().Append(text).Append('\n');
            await output.WriteAsync(stream, Encoding.UTF8.GetBytes(buffer.ToString())).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// One script's state, passed into the wrapper script (public so that PowerShell can call it). The
/// wrapper calls <see cref="Enter"/> on its pipeline thread; the host's <c>SetShouldExit</c>, called on
/// that same thread by <c>exit N</c>, finds the run through <see cref="Current"/>.
/// </summary>
public sealed class ScriptRun
{
    [ThreadStatic]
    private static ScriptRun? t_current;

    internal static ScriptRun? Current => t_current;

    internal int? Exit { get; private set; }

    internal int LastExitCode { get; private set; }

    /// <summary>Marks the calling pipeline thread as running this script.</summary>
    public void Enter() => t_current = this;

    /// <summary>Records <c>$LASTEXITCODE</c> after the script ended normally.</summary>
    public void SetLastExitCode(object? code) => LastExitCode = code is int i ? i : 0;

    internal void SetExit(int code) => Exit ??= code;
}

using Microsoft.Extensions.Logging;

namespace Execd.Executors.BashSession;

/// <summary>Sessions backed by one long-lived bash each (see <see cref="ShellProtocol"/>).</summary>
internal sealed class BashSessionExecutor(ILogger<BashSessionExecutor> logger) : ISessionExecutor
{
    public string Name => "bash-session";

    public async Task<IShellSession> StartAsync(SessionSpec spec, CancellationToken cancellationToken)
    {
        var bash = ShellProcess.Which("bash") ?? throw new CommandStartException("start bash: exec: \"bash\": executable file not found in $PATH");
        var shell = await ShellProcess.StartAsync(bash, spec.WorkingDirectory, spec.Environment, logger, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("Session {Id}: bash started (pid {Pid})", spec.Id, shell.Pid);
        return new BashShellSession(spec, bash, shell, logger);
    }
}

/// <summary>
/// A session's shell across its lifetime. A stopped run (timeout, interrupt) kills what the run started
/// and the shell, then starts a fresh shell in the directory the old one was in: bash cannot abandon a
/// running command and stay at its top level, and letting the rest of a timed-out script go on would be
/// worse. The run's error says so.
/// </summary>
internal sealed class BashShellSession : IShellSession
{
    private readonly SessionSpec _spec;
    private readonly string _bash;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ShellProcess _shell;
    // Kernel session ids of shells replaced after a stopped run: background jobs they left are still this session's.
    private readonly List<int> _formerShells = [];
    private const string Deleted = "deleted";
    private string? _endReason;
    private bool _replacing;

    public BashShellSession(SessionSpec spec, string bash, ShellProcess shell, ILogger logger)
    {
        _spec = spec;
        _bash = bash;
        _logger = logger;
        _shell = shell;
        Watch(shell);
    }

    public string Id => _spec.Id;

    public int? ProcessId => _endReason is null ? _shell.Pid : null;

    public string? CurrentDirectory => _endReason is null ? _shell.CurrentDirectory : null;

    public string? EndReason => _endReason;

    public Task Ended => _ended.Task;

    public async Task<CommandExit> RunAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        if (Volatile.Read(ref _endReason) is { } reason)
        {
            // The shell died between the host's check and this run (e.g. killed from outside while idle).
            return new CommandExit(-1, $"session {Id} has ended: {reason}");
        }
        var shell = _shell;
        context.ReportStarted(shell.Pid);
        var startedTicks = ProcessTree.NowTicks();
        var (end, code) = await shell.RunAsync(spec.Command, spec.WorkingDirectory, context.Output, stop).ConfigureAwait(false);
        switch (end)
        {
            case RunEnd.Completed:
                return CommandExit.FromExitCode(code);
            case RunEnd.ShellExited when _endReason == Deleted:
                return new CommandExit(-1, $"signal: killed; session {Id} was deleted");
            case RunEnd.ShellExited:
                var why = End(shell, code);
                return code > 128
                    ? new CommandExit(-1, $"signal: {SignalName(code - 128)}; {why}")
                    : new CommandExit(code, $"exit status {code}; {why}");
            case RunEnd.ProtocolBroken:
                return await ResetAsync(shell, startedTicks,
                    $"the run closed or replaced the descriptors {ShellProtocol.StdoutFd}/{ShellProtocol.StderrFd} the session's shell reports through").ConfigureAwait(false);
            case RunEnd.Stalled:
                return await ResetAsync(shell, startedTicks,
                    "the session's shell stopped executing the run and waits for more input (e.g. after set -n, or a DEBUG trap that reads stdin)").ConfigureAwait(false);
            default:
                return await ResetAsync(shell, startedTicks, "signal: killed").ConfigureAwait(false);
        }
    }

    /// <summary>Ends a run that cannot go on (stopped, or it broke the protocol) and continues the session in a fresh shell.</summary>
    private async Task<CommandExit> ResetAsync(ShellProcess shell, long startedTicks, string what)
    {
        var cwd = shell.CurrentDirectory;
        _replacing = true;
        try
        {
            // A tick of slack: /proc start times are in 10 ms ticks.
            await shell.KillRunAsync(startedTicks - 1).ConfigureAwait(false);
            lock (_formerShells)
            {
                _formerShells.Add(shell.Pid);
            }
            await shell.DisposeAsync().ConfigureAwait(false);
            var directory = cwd is not null && Directory.Exists(cwd) ? cwd : _spec.WorkingDirectory;
            try
            {
                var fresh = await ShellProcess.StartAsync(_bash, directory, _spec.Environment, _logger, CancellationToken.None).ConfigureAwait(false);
                _shell = fresh;
                Watch(fresh);
                _logger.LogInformation("Session {Id}: run stopped; shell restarted (pid {Pid}) in {Cwd}", Id, fresh.Pid, directory);
                return new CommandExit(-1, $"{what}; the session's shell was restarted in {directory ?? "the daemon's directory"}: variables, functions, aliases and options of earlier runs are gone");
            }
            catch (CommandStartException ex)
            {
                var why = $"the run was stopped and the shell could not be restarted ({ex.Message})";
                MarkEnded(why);
                return new CommandExit(-1, $"{what}; {why}; the session has ended");
            }
        }
        finally
        {
            _replacing = false;
        }
    }

    private void Watch(ShellProcess shell) =>
        _ = shell.Exited.ContinueWith(_ =>
        {
            if (!_replacing && ReferenceEquals(shell, _shell) && _endReason is null)
            {
                End(shell, shell.ExitCode ?? -1);
            }
        }, TaskScheduler.Default);

    private string End(ShellProcess shell, int code)
    {
        var why = code > 128
            ? $"its shell (pid {shell.Pid}) was killed by signal {SignalName(code - 128)}"
            : $"its shell (pid {shell.Pid}) exited with status {code}";
        MarkEnded(why);
        return why + "; the session has ended";
    }

    private void MarkEnded(string reason)
    {
        if (Interlocked.CompareExchange(ref _endReason, reason, null) is null)
        {
            _logger.LogInformation("Session {Id} ended: {Reason}", Id, reason);
            _ = Task.Run(async () =>
            {
                await _shell.KillAllAsync().ConfigureAwait(false);
                await _shell.DisposeAsync().ConfigureAwait(false);
            });
            _ended.TrySetResult();
        }
    }

    private static string SignalName(int signal) => signal switch
    {
        1 => "hangup",
        2 => "interrupt",
        9 => "killed",
        15 => "terminated",
        _ => $"signal {signal}",
    };

    public async ValueTask DisposeAsync()
    {
        var shell = _shell;
        Interlocked.CompareExchange(ref _endReason, Deleted, null);
        await shell.KillAllAsync().ConfigureAwait(false);
        await shell.DisposeAsync().ConfigureAwait(false);
        lock (_formerShells)
        {
            foreach (var former in _formerShells)
            {
                ProcessTree.KillMembers(former, 0);
            }
        }
        _ended.TrySetResult();
    }
}

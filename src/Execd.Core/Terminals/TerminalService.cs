using System.Collections.Concurrent;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Execd.Core.Sessions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Terminals;

/// <summary>
/// The registry of terminals (<c>/pty</c>). A terminal's shell is started through <see cref="CommandService"/>
/// like a session's run, so it has a command id, an output log on the health-ranked storage, status and logs.
/// Idle terminals whose shell is not running are deleted after <see cref="TerminalOptions.IdleTimeout"/>.
/// </summary>
public sealed class TerminalService : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, TerminalSession> _sessions = new(StringComparer.Ordinal);
    private readonly ITerminalExecutor? _executor;
    private readonly CommandService _commands;
    private readonly EnvironmentBuilder _environment;
    private readonly TimeProvider _time;
    private readonly ILogger<TerminalService> _logger;
    private readonly IdleReaper _reaper;
    private readonly object _createGate = new();

    public TerminalService(IEnumerable<PluginContribution> contributions, IServiceProvider services, CommandService commands,
        EnvironmentBuilder environment, TimeProvider time, IOptions<TerminalOptions> options, ILogger<TerminalService> logger)
    {
        _commands = commands;
        _environment = environment;
        _time = time;
        Options = options.Value;
        _logger = logger;
        _executor = ContributionRegistry.CreateFirst<ITerminalExecutor>(contributions, services, logger, e => e.Name, "terminal executor");
        _reaper = new IdleReaper(time, Options.IdleTimeout, cutoff => _sessions.Values.Where(s => !s.Attached && !s.Running && s.LastActivityAt < cutoff).Select(s => s.Id),
            (id, reason) => DeleteAsync(id, reason), logger, "terminal");
    }

    public TerminalOptions Options { get; }

    /// <summary>The terminal executor in use, or <c>null</c> when no plugin contributes one.</summary>
    public string? ExecutorName => _executor?.Name;

    public IEnumerable<TerminalSession> All => _sessions.Values;

    public bool TryGet(string id, out TerminalSession session) => _sessions.TryGetValue(id, out session!);

    /// <summary>Registers a terminal (its shell starts at the first connection); null when the limit is reached.</summary>
    public TerminalSession? Create(string? directory, string? command)
    {
        lock (_createGate)
        {
            if (_sessions.Count >= Options.MaxSessions)
            {
                return null;
            }
            var session = new TerminalSession(Guid.NewGuid().ToString("D"), directory, string.IsNullOrEmpty(command) ? null : command, _time.GetUtcNow());
            _sessions[session.Id] = session;
            _logger.LogInformation("Terminal {Id} created (cwd {Cwd}, command {Command})", session.Id, directory ?? "(daemon's)", session.Command ?? "(interactive bash)");
            return session;
        }
    }

    /// <summary>
    /// Starts the terminal's shell in <paramref name="mode"/> unless it was started before (running or exited:
    /// an exited shell is not restarted). Completes once the shell runs; throws <see cref="CommandStartException"/>
    /// if it cannot start (the terminal stays startable).
    /// </summary>
    public async Task EnsureStartedAsync(TerminalSession session, TerminalMode mode)
    {
        CommandRecord record;
        lock (session.StartGate)
        {
            if (session.Record is null)
            {
                var executor = _executor ?? throw new CommandStartException("no terminal executor is loaded (plugin Execd.Executors.Pty)");
                var spec = new CommandSpec
                {
                    Id = CommandService.NewId(),
                    Command = session.Command ?? "bash --norc --noprofile",
                    WorkingDirectory = session.Directory,
                    Environment = _environment.Build(null),
                    Background = true,
                    Executor = executor.Name,
                };
                var terminalSpec = new TerminalSpec
                {
                    Id = session.Id,
                    Command = session.Command,
                    WorkingDirectory = session.Directory,
                    Environment = spec.Environment,
                    Mode = mode,
                };
                _commands.Start(spec, timeout: null, beforeStart: r =>
                {
                    session.Started(r, new TerminalOutput(r.Log), mode);
                }, executor.Name, (r, stop) => RunAsync(executor, terminalSpec, session, r, stop));
            }
            record = session.Record!;
        }
        var pid = await record.Started.ConfigureAwait(false);
        if (pid is null)
        {
            var exit = await record.Finished.ConfigureAwait(false);
            if (record.StartFailed)
            {
                lock (session.StartGate)
                {
                    if (ReferenceEquals(session.Record, record))
                    {
                        session.ForgetFailedStart();
                    }
                }
                throw new CommandStartException(exit.Error ?? "the shell could not start");
            }
        }
    }

    private async Task<CommandExit> RunAsync(ITerminalExecutor executor, TerminalSpec spec, TerminalSession session, CommandRecord record, CancellationToken stop)
    {
        var output = session.Output!;
        try
        {
            var process = executor.Start(spec, output);
            session.ProcessStarted(process);
            ((ICommandContext)record).ReportStarted(process.ProcessId);
            // Interrupting the terminal's command (DELETE /command?id=) ends the shell like DELETE /pty.
            await using var onStop = stop.Register(process.Kill);
            var exit = await process.Exited.ConfigureAwait(false);
            _logger.LogInformation("Terminal {Id}: shell exited ({Exit})", session.Id, exit.Error ?? "exit status 0");
            return exit;
        }
        finally
        {
            // After the record finishes (its log completes), waiting connections re-check and send the exit.
            _ = record.Finished.ContinueWith(_ => output.Pulse(), TaskScheduler.Default);
        }
    }

    /// <summary>Deletes a terminal: kills its shell (an attached client gets the exit frame) and forgets it.</summary>
    public async Task<bool> DeleteAsync(string id, string reason = "deleted")
    {
        if (!_sessions.TryRemove(id, out var session))
        {
            return false;
        }
        if (session.Process is { } process)
        {
            try
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _logger.LogWarning("Terminal {Id}: the shell did not end within 10 s of SIGKILL", id);
            }
        }
        _logger.LogInformation("Terminal {Id} {Reason}", id, reason);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _reaper.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_sessions.Keys.ToList().Select(id => DeleteAsync(id, "closed: the daemon stopped"))).ConfigureAwait(false);
    }
}

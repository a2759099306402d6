using System.Collections.Concurrent;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Sessions;

/// <summary>Creating a session was refused: <paramref name="max"/> sessions are live (setting <c>Execd:Sessions:MaxSessions</c>).</summary>
public sealed class SessionLimitException(int max)
    : Exception($"too many sessions: {max} are open (the limit, setting Execd:Sessions:MaxSessions); delete one first")
{
    public int Max { get; } = max;
}

/// <summary>A live session in the registry.</summary>
public sealed class SessionEntry(IShellSession shell, DateTimeOffset createdAt)
{
    private long _lastUsedTicks = createdAt.UtcTicks;
    private int _running;

    public string Id => Shell.Id;
    public IShellSession Shell { get; } = shell;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset LastUsedAt => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);

    /// <summary>Whether a run holds (or waits for) the session.</summary>
    public bool Running => Volatile.Read(ref _running) > 0;

    /// <summary>Serializes the runs of this session.</summary>
    internal SemaphoreSlim Lock { get; } = new(1, 1);

    internal void Enter() => Interlocked.Increment(ref _running);

    internal void Leave(DateTimeOffset at)
    {
        Interlocked.Exchange(ref _lastUsedTicks, at.UtcTicks);
        Interlocked.Decrement(ref _running);
    }
}

/// <summary>
/// The registry of sessions. Each run is started through <see cref="CommandService"/>, so it gets a command
/// id, output log, status and logs like any command; runs of one session are serialized, sessions run in
/// parallel. Idle sessions are deleted after <see cref="SessionOptions.IdleTimeout"/>.
/// </summary>
public sealed class SessionService : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, SessionEntry> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _ended = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _endedOrder = new();
    private readonly ISessionExecutor? _executor;
    private readonly CommandService _commands;
    private readonly EnvironmentBuilder _environment;
    private readonly TimeProvider _time;
    private readonly SessionOptions _options;
    private readonly ILogger<SessionService> _logger;
    private readonly IdleReaper _reaper;

    public SessionService(IEnumerable<PluginContribution> contributions, IServiceProvider services, CommandService commands,
        EnvironmentBuilder environment, TimeProvider time, IOptions<SessionOptions> options, ILogger<SessionService> logger)
    {
        _commands = commands;
        _environment = environment;
        _time = time;
        _options = options.Value;
        _logger = logger;
        _executor = ContributionRegistry.CreateFirst<ISessionExecutor>(contributions, services, logger, e => e.Name, "session executor");
        _reaper = new IdleReaper(time, _options.IdleTimeout, cutoff => _sessions.Values.Where(e => !e.Running && e.LastUsedAt < cutoff).Select(e => e.Id),
            (id, reason) => DeleteAsync(id, reason), logger, "session");
    }

    /// <summary>The session executor in use, or <c>null</c> when no plugin contributes one.</summary>
    public string? ExecutorName => _executor?.Name;

    public IEnumerable<SessionEntry> All => _sessions.Values;

    /// <summary>A live session by id; a session whose shell has ended is forgotten here and not returned.</summary>
    public bool TryGet(string id, out SessionEntry entry)
    {
        if (_sessions.TryGetValue(id, out entry!))
        {
            if (entry.Shell.EndReason is not { } reason)
            {
                return true;
            }
            Forget(entry, reason);
        }
        return false;
    }

    /// <summary>Why <paramref name="id"/> is gone, if it was a session that ended or was deleted recently.</summary>
    public string? EndedReason(string id) => _ended.TryGetValue(id, out var reason) ? reason : null;

    /// <summary>Starts a session's shell and registers it. Throws <see cref="CommandStartException"/> if the shell cannot start.</summary>
    /// <exception cref="SessionLimitException">When <see cref="SessionOptions.MaxSessions"/> sessions are live (or starting).</exception>
    public async Task<SessionEntry> CreateAsync(string? directory, CancellationToken cancellationToken)
    {
        var executor = _executor ?? throw new CommandStartException("no session executor is loaded (plugin Execd.Executors.BashSession)");
        Reserve();
        SessionEntry entry;
        var spec = new SessionSpec { Id = Guid.NewGuid().ToString("D"), WorkingDirectory = directory, Environment = _environment.Build(null) };
        try
        {
            entry = new SessionEntry(await executor.StartAsync(spec, cancellationToken).ConfigureAwait(false), _time.GetUtcNow());
            _sessions[spec.Id] = entry;
        }
        finally
        {
            lock (_reserveLock)
            {
                _starting--;
            }
        }
        var shell = entry.Shell;
        _ = shell.Ended.ContinueWith(_ => Forget(entry, shell.EndReason ?? "ended"), TaskScheduler.Default);
        _logger.LogInformation("Session {Id} created (pid {Pid}, cwd {Cwd})", spec.Id, shell.ProcessId, directory ?? "(daemon's)");
        return entry;
    }

    // Sessions being started count against the limit too, so concurrent creates cannot overshoot it.
    private int _starting;
    private readonly Lock _reserveLock = new();

    private void Reserve()
    {
        var max = _options.MaxSessions;
        lock (_reserveLock)
        {
            if (max > 0 && _sessions.Count + _starting >= max)
            {
                throw new SessionLimitException(max);
            }
            _starting++;
        }
    }

    /// <summary>
    /// Starts a run of <paramref name="command"/> in <paramref name="entry"/> as a command (same registry, log,
    /// status and logs). It waits for the session's previous run; a timeout counts from now.
    /// </summary>
    public CommandRecord Run(SessionEntry entry, string command, string? directory, TimeSpan? timeout, Action<CommandRecord>? beforeStart = null)
    {
        var spec = new CommandSpec
        {
            Id = CommandService.NewId(),
            Command = command,
            WorkingDirectory = directory,
            Executor = _executor?.Name ?? "session",
        };
        entry.Enter();
        return _commands.Start(spec, timeout, beforeStart, spec.Executor, (record, stop) => RunLockedAsync(entry, record, timeout, stop));
    }

    private async Task<CommandExit> RunLockedAsync(SessionEntry entry, CommandRecord record, TimeSpan? timeout, CancellationToken stop)
    {
        try
        {
            try
            {
                await entry.Lock.WaitAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return Describe(record, timeout, CommandExit.FromSignal("killed"), "while waiting for the session's previous run");
            }
            try
            {
                var exit = await entry.Shell.RunAsync(record.Spec, record, stop).ConfigureAwait(false);
                if (entry.Shell.EndReason is { } reason)
                {
                    // Before the run's stream ends: the client's next request must already get the 404.
                    Forget(entry, reason);
                }
                return record.StopReason is null ? exit : Describe(record, timeout, exit, null);
            }
            finally
            {
                entry.Lock.Release();
            }
        }
        finally
        {
            entry.Leave(_time.GetUtcNow());
        }
    }

    // The executor says what happened to the shell; the host knows why the run was stopped.
    private static CommandExit Describe(CommandRecord record, TimeSpan? timeout, CommandExit exit, string? when)
    {
        var why = record.StopReason == "timeout" && timeout is { } t ? $"timeout after {GoDuration(t)}" : record.StopReason ?? "stopped";
        return exit with { Error = $"{exit.Error} ({why}{(when is null ? "" : " " + when)})" };
    }

    /// <summary>Go's <c>Duration.String()</c> for whole milliseconds: <c>2s</c>, <c>1.5s</c>, <c>500ms</c>, <c>1m30s</c>.</summary>
    public static string GoDuration(TimeSpan t)
    {
        if (t < TimeSpan.FromSeconds(1))
        {
            return $"{(long)t.TotalMilliseconds}ms";
        }
        var hours = (long)t.TotalHours;
        var minutes = t.Minutes;
        var seconds = (t - TimeSpan.FromHours(hours) - TimeSpan.FromMinutes(minutes)).TotalSeconds;
        var s = seconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) + "s";
        return hours > 0 ? $"{hours}h{minutes}m{s}" : minutes > 0 ? $"{minutes}m{s}" : s;
    }

    /// <summary>Deletes a session: kills its shell and everything in it (a run in progress ends with <c>-1</c>).</summary>
    public async Task<bool> DeleteAsync(string id, string reason = "deleted")
    {
        if (!_sessions.TryRemove(id, out var entry))
        {
            return false;
        }
        Remember(id, reason);
        await entry.Shell.DisposeAsync().ConfigureAwait(false);
        _logger.LogInformation("Session {Id} {Reason}", id, reason);
        return true;
    }

    private void Forget(SessionEntry entry, string reason)
    {
        if (_sessions.TryGetValue(entry.Id, out var current) && ReferenceEquals(current, entry) && _sessions.TryRemove(entry.Id, out _))
        {
            Remember(entry.Id, reason);
            _ = entry.Shell.DisposeAsync().AsTask();
        }
    }

    private void Remember(string id, string reason)
    {
        if (_ended.TryAdd(id, reason))
        {
            _endedOrder.Enqueue(id);
            while (_endedOrder.Count > Math.Max(0, _options.RememberEnded) && _endedOrder.TryDequeue(out var old))
            {
                _ended.TryRemove(old, out _);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _reaper.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_sessions.Keys.ToList().Select(id => DeleteAsync(id, "closed: the daemon stopped"))).ConfigureAwait(false);
    }
}

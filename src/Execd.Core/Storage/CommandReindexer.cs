using System.Text.Json;
using Execd.Core.Commands;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Storage;

/// <summary>
/// At start-up (after the record stores' first health checks, beside the server's start; requests other than <c>/ping</c> wait
/// for it: <see cref="Completion"/>): reads every command record on every provider that
/// is not unhealthy and outlives the daemon, and registers those commands again — finished ones answer status, logs and the
/// stream as before; ones that were running when the previous daemon died are reported <c>lost</c> (exit -1, with the reason),
/// their output as far as it reached storage kept; output that was on a provider that died with the daemon (memory) is counted
/// as unstored. A damaged record (torn, truncated, corrupted) marks that command <c>damaged</c> and is reported in
/// <c>/admin/storage</c> and the log; the others are unaffected. Sink files that belong to no record are swept, and the
/// providers' byte budgets count what was reopened.
/// </summary>
public sealed class CommandReindexer : IHostedService
{
    private readonly CommandService _commands;
    private readonly StorageRanking _ranking;
    private readonly CommandJournal _journal;
    private readonly ILogger<CommandReindexer> _logger;
    private readonly StorageOptions _options;
    private readonly CaptureLocks? _captureLocks;

    public CommandReindexer(CommandService commands, StorageRanking ranking, CommandJournal journal, IOptions<StorageOptions> options,
        ILogger<CommandReindexer> logger, CaptureLocks? captureLocks = null)
    {
        _captureLocks = captureLocks;
        _commands = commands;
        _ranking = ranking;
        _journal = journal;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>What the last re-indexing found (null before it ran).</summary>
    public ReindexReport? LastReport { get; private set; }

    private readonly TaskCompletionSource _reindexed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>
    /// Completes once start-up re-indexing has finished (at once when durability is off). It runs beside the server's
    /// start: <c>/ping</c> answers before it, every other request waits for it (the host's gate), so a finished command is
    /// never a 404 after a restart and no new command starts before the old ones are registered again.
    /// </summary>
    public Task Completion => _reindexed.Task;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Durability.Enabled)
        {
            _reindexed.TrySetResult();
            return Task.CompletedTask;
        }
        _ = Task.Run(ReindexAtStartAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task ReindexAtStartAsync()
    {
        try
        {
            // Re-indexing reads the record stores found healthy, so it waits (bounded) for their first health checks, which run
            // in the background. Only the record stores are waited for (file providers: milliseconds), never a slow provider
            // that keeps no records.
            try
            {
                await _ranking.WhenChecked(_ranking.Providers.Where(p => p is ICommandRecordStore)).WaitAsync(_options.Health.Timeout + TimeSpan.FromSeconds(1), _stopping.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _logger.LogWarning("Re-indexing before every record store's first health check finished: those not checked yet are skipped");
            }
            LastReport = Reindex();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            _logger.LogWarning("The daemon stopped before start-up re-indexing began: stored commands were not registered again");
        }
        catch (Exception ex)
        {
            // Requests must not wait for ever on a bug here: they go on, without the stored commands.
            _logger.LogError(ex, "Start-up re-indexing failed: stored commands were not registered again");
        }
        finally
        {
            _reindexed.TrySetResult();
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // A stop during re-indexing waits for it (a pass is short: it reads records, it does not wait on commands).
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Shutting down before start-up re-indexing finished");
        }
    }

    /// <summary>One pass over every healthy record store.</summary>
    public ReindexReport Reindex()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var stores = _ranking.Current.Where(r => r.Health != ProviderHealth.Unhealthy && r.Provider is ICommandRecordStore)
            .Select(r => r.Provider).ToList();
        var byName = _ranking.Providers.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var referenced = new HashSet<(string Provider, string Key)>();
        var damaged = new List<DamagedRecord>();
        int restored = 0, lost = 0, swept = 0, adopted = 0;
        foreach (var provider in stores)
        {
            IEnumerable<StoredCommandRecord> records;
            try
            {
                records = ((ICommandRecordStore)provider).ReadRecords().ToList();
            }
            catch (Exception ex)
            {
                _logger.LogError("Re-indexing {Provider} failed: {Error}", provider.Name, ex.Message);
                continue;
            }
            foreach (var stored in records)
            {
                if (_commands.TryGet(stored.CommandId, out _))
                {
                    continue;   // a copy on another provider was indexed first (the best-ranked one wins)
                }
                try
                {
                    var record = Restore(provider, stored, byName, referenced);
                    record.RecordStore = provider;
                    // Was running when the previous daemon stopped: it may have left a run journal (re-adopted ones: see Adopt).
                    record.MayHaveRunJournal |= record.State is CommandState.Lost or CommandState.Orphaned;
                    _commands.Restore(record);
                    if (record.State == CommandState.Running)
                    {
                        adopted++;
                    }
                    if (record.State is CommandState.Lost or CommandState.Orphaned)
                    {
                        lost += record.State == CommandState.Lost ? 1 : 0;
                        _journal.Save(record);   // the next restart reads "lost" or "orphaned", not "running"
                    }
                    restored++;
                }
                catch (DamagedRecordException ex)
                {
                    damaged.Add(new DamagedRecord(provider.Name, stored.CommandId, ex.Message));
                    _logger.LogError("Command {Id}: its record on {Provider} is damaged ({Reason}); the command is reported damaged", stored.CommandId, provider.Name, ex.Message);
                    _commands.Restore(DamagedCommand(stored.CommandId, ex.Message, provider, byName, referenced));
                }
            }
        }
        foreach (var provider in stores)
        {
            swept += Sweep((ICommandRecordStore)provider, provider.Name, referenced);
            swept += SweepCaptureDirectory(provider);
        }
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        if (restored + damaged.Count + swept > 0)
        {
            _logger.LogInformation("Re-indexed {Restored} commands ({Adopted} still running, re-adopted; {Lost} lost, {Damaged} damaged) and swept {Swept} files in {Ms} ms",
                restored, adopted, lost, damaged.Count, swept, (long)elapsed.TotalMilliseconds);
        }
        return new ReindexReport(restored, lost, swept, damaged, elapsed, adopted);
    }

    private int Sweep(ICommandRecordStore store, string provider, HashSet<(string, string)> referenced)
    {
        var swept = 0;
        try
        {
            foreach (var key in store.StoredKeys().ToList())
            {
                if (!referenced.Contains((provider, key)))
                {
                    store.DeleteKey(key);
                    swept++;
                }
            }
        }
        catch (Exception ex)
        {
            _logger.LogWarning("Sweeping {Provider} failed: {Error}", provider, ex.Message);
        }
        return swept;
    }

    /// <summary>
    /// Deletes the FIFOs, exit files and tail files in the provider's <c>capture/</c> directory (see CommandService's capture directory) of
    /// every command not re-adopted just now: ended, lost, forgotten or unknown. Runs before the first request, so no new command has any.
    /// The lock file (<c>.daemon.lock</c>, held by this daemon) stays.
    /// </summary>
    private int SweepCaptureDirectory(IOutputStorageProvider provider)
    {
        var dir = Path.IsPathRooted(provider.Location) ? Path.Combine(provider.Location, "capture") : null;
        if (dir is null || !Directory.Exists(dir))
        {
            return 0;
        }
        var swept = 0;
        try
        {
            foreach (var path in Directory.EnumerateFileSystemEntries(dir).ToList())
            {
                var name = Path.GetFileName(path);
                var dot = name.LastIndexOf('.');
                if (dot <= 0 || name[(dot + 1)..] is not ("stdout" or "stderr" or "exit" or "stdout-tail" or "stderr-tail")
                    || (_commands.TryGet(name[..dot], out var command) && command.Running))
                {
                    continue;
                }
                File.Delete(path);
                swept++;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Sweeping {Dir} failed: {Error}", dir, ex.Message);
        }
        return swept;
    }

    private sealed class DamagedRecordException(string message) : Exception(message);

    // Sinks a log opened during re-indexing belong to it: the sweep leaves them.
    private static void Reference(OutputLog log, HashSet<(string, string)> referenced)
    {
        foreach (var segment in log.StoredSegments.Where(s => s.Key is not null))
        {
            referenced.Add((segment.Provider, segment.Key!));
        }
    }

    private byte[]? ReadRuns(IOutputStorageProvider home, string id)
    {
        try
        {
            return (home as ICommandRecordStore)?.ReadRuns(id);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Command {Id}: its run journal on {Provider} could not be read ({Error}); streams after its record are as the record says", id, home.Name, ex.Message);
            return null;
        }
    }

    private CommandRecord Restore(IOutputStorageProvider home, StoredCommandRecord stored, Dictionary<string, IOutputStorageProvider> byName,
        HashSet<(string, string)> referenced)
    {
        if (stored.Bytes is null)
        {
            throw new DamagedRecordException($"unreadable: {stored.Error}");
        }
        var (json, error) = CommandJournal.Unframe(stored.Bytes);
        if (error is not null)
        {
            throw new DamagedRecordException(error);
        }
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new DamagedRecordException($"not valid JSON: {ex.Message}");
        }
        try
        {
            return FromJson(root, stored.CommandId, home, byName, referenced);
        }
        catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new DamagedRecordException($"missing or invalid field: {ex.Message}");
        }
    }

    private CommandRecord FromJson(JsonElement root, string fileId, IOutputStorageProvider home, Dictionary<string, IOutputStorageProvider> byName,
        HashSet<(string, string)> referenced)
    {
        var id = root.GetProperty("id").GetString()!;
        if (id != fileId)
        {
            throw new FormatException($"record of {id} stored as {fileId}");
        }
        var state = root.GetProperty("state").GetString();
        var running = state == "running";
        var spec = new CommandSpec
        {
            Id = id,
            Command = root.GetProperty("command").GetString() ?? "",
            Executor = root.GetProperty("executor").GetString() ?? "shell",
            Background = root.GetProperty("background").GetBoolean(),
            WorkingDirectory = root.TryGetProperty("cwd", out var cwd) ? cwd.GetString() : null,
            Uid = root.TryGetProperty("uid", out var uid) ? uid.GetUInt32() : null,
            CaptureDirectory = root.TryGetProperty("capture_dir", out var capture) ? capture.GetString() : null,
        };
        var startedAt = root.GetProperty("started_at").GetDateTimeOffset();
        int? pid = root.TryGetProperty("pid", out var p) ? p.GetInt32() : null;
        var unstored = root.GetProperty("unstored_bytes").GetInt64();
        var dropped = root.GetProperty("dropped_bytes").GetInt64();
        var deleted = root.GetProperty("deleted").GetBoolean();
        var recordedLength = root.GetProperty("length").GetInt64();
        var providers = root.GetProperty("providers").EnumerateArray().Select(e => e.GetString()!).ToList();
        var runs = root.GetProperty("runs").EnumerateArray().Select(e => e.GetInt64()).ToList();
        if (running)
        {
            // Which stream wrote what since the record was written: the run journal the previous daemon appended to before storing.
            runs = CommandJournal.MergeRuns(runs, ReadRuns(home, id));
        }

        var segments = new List<(IOutputSink, long)>();
        long end = 0;
        foreach (var s in root.GetProperty("segments").EnumerateArray())
        {
            var name = s.GetProperty("provider").GetString()!;
            var key = s.GetProperty("key").GetString();
            var start = s.GetProperty("start").GetInt64();
            var length = s.GetProperty("length").GetInt64();
            var sink = key is not null && byName.TryGetValue(name, out var provider) && provider is ICommandRecordStore store ? TryOpen(store, name, key) : null;
            if (sink is null)
            {
                // The bytes died with the previous daemon (memory) or are gone from disk: counted, never silently missing.
                if (!deleted)
                {
                    unstored += length;
                    _logger.LogWarning("Command {Id}: {Bytes} bytes of output on {Provider} did not survive the restart", id, length, name);
                }
                end = Math.Max(end, start + length);
                continue;
            }
            referenced.Add((name, key!));
            // A finished record says how long each segment is; a running one's files kept growing after the record was written.
            var kept = running ? sink.Length : Math.Min(sink.Length, length);
            if (!running && sink.Length < length)
            {
                unstored += length - sink.Length;
                _logger.LogWarning("Command {Id}: output file {Key} on {Provider} is {Missing} bytes shorter than recorded", id, key, name, length - sink.Length);
            }
            segments.Add((kept == sink.Length ? sink : new TruncatedSink(sink, kept), start));
            end = Math.Max(end, start + (running ? sink.Length : length));
        }
        var logLength = running ? Math.Max(end, recordedLength) : recordedLength;
        if (running && spec.CaptureDirectory is { } lockDir)
        {
            // Before it looks at the process: a trap draining its pipes right now finishes first (its tails and exit file are then complete),
            // and from now on no trap drains a pipe this daemon reads.
            _captureLocks?.Hold(lockDir);
        }
        var alive = running && pid is { } p2 && root.TryGetProperty("start_ticks", out var t) && AdoptedProcess.IsAlive(p2, t.GetInt64());
        // Only a command its executor ran in capture mode is re-adopted (its pipes, or the named FIFOs of an older daemon): the executor ran
        // it as its own process group, and its output can be read on. Others (their output died with the daemon) are reported lost.
        (long, long)? pipes = root.TryGetProperty("stdout_pipe", out var so) && root.TryGetProperty("stderr_pipe", out var se) ? (so.GetInt64(), se.GetInt64()) : null;
        if (alive && pid is { } livePid && spec.CaptureDirectory is { } fifoDir && (pipes is not null || File.Exists(Path.Combine(fifoDir, id + ".stdout"))))
        {
            var ticks = root.GetProperty("start_ticks").GetInt64();
            // Still running: re-adopted under the same id; its output goes on from its named FIFOs (when it has them).
            var live = new OutputLog(id, _ranking, _logger, segments, logLength, unstored, dropped, providers, runs, deleted, completed: false);
            _logger.LogWarning("Command {Id}: still running (pid {Pid}) after the restart; re-adopted", id, livePid);
            var adopted = _commands.Adopt(spec, live, startedAt, livePid, ticks, pipes, home);
            Reference(live, referenced);   // the sink it stores into from now on is not swept
            return adopted;
        }
        // Ended while no daemon ran: its shell wrote its exit status beside its FIFOs (the shell executor's exit trap), and before it, what
        // was left in its pipes into tail files, appended here (open until then) when they come from the recorded pipes.
        if (running && !alive && spec.CaptureDirectory is { } dir && AdoptedProcess.ReadExitFile(CaptureFiles.Exit(dir, id)) is { } ended)
        {
            var orphanedLog = new OutputLog(id, _ranking, _logger, segments, logLength, unstored, dropped, providers, runs, deleted, completed: false);
            var recovered = AdoptedProcess.RecoverTails(dir, id, pipes, orphanedLog, _logger);
            orphanedLog.Complete();
            Reference(orphanedLog, referenced);   // a segment the tails opened just now is not swept
            var reason = (ended.Error ?? "exit status 0") + $"; it ended while no daemon ran{(pid is { } op ? $" (pid {op})" : "")}: the exit status is its own, "
                + (recovered == true
                    ? "and what it wrote after the previous daemon stopped was still in its pipes and is stored"
                    : "but output it wrote after the previous daemon stopped, if any, is not stored");
            _logger.LogWarning("Command {Id}: ended while no daemon ran, exit {Exit}; {Output}", id, ended.ExitCode,
                recovered == true ? "its output written meanwhile was recovered from its pipes" : "output written after the previous daemon stopped may be missing");
            return new CommandRecord(spec, orphanedLog, startedAt, DateTimeOffset.UtcNow, ended with { Error = reason }, CommandState.Orphaned, false, "daemon restart", pid);
        }
        var log = new OutputLog(id, _ranking, _logger, segments, logLength, unstored, dropped, providers, runs, deleted);
        if (running)
        {
            var reason = alive
                ? $"lost: the daemon running it stopped; its process (pid {pid}) still runs but was not started in capture mode, so its output cannot be read on and it is not re-adopted"
                : $"lost: the daemon running it stopped{(pid is { } pp ? $" (pid {pp})" : "")} and its process is gone, so its exit status is unknown"
                    + "; output it wrote after that daemon stopped, if any, is not stored";
            return new CommandRecord(spec, log, startedAt, DateTimeOffset.UtcNow, new CommandExit(-1, reason), CommandState.Lost, false, "daemon restart", pid);
        }
        var exit = new CommandExit(root.GetProperty("exit_code").GetInt32(), root.TryGetProperty("error", out var e) ? e.GetString() : null);
        var commandState = state switch { "lost" => CommandState.Lost, "orphaned" => CommandState.Orphaned, _ => CommandState.Finished };
        return new CommandRecord(spec, log, startedAt, root.GetProperty("finished_at").GetDateTimeOffset(), exit, commandState,
            root.GetProperty("start_failed").GetBoolean(), root.TryGetProperty("stop_reason", out var r) ? r.GetString() : null, pid);
    }

    private IOutputSink? TryOpen(ICommandRecordStore store, string provider, string key)
    {
        try
        {
            return store.OpenExisting(key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _logger.LogDebug("Reopening {Key} on {Provider} failed: {Error}", key, provider, ex.Message);
            return null;
        }
    }

    /// <summary>What is known of a command whose record is damaged: its id; its output files are kept (not swept) but not served.</summary>
    private CommandRecord DamagedCommand(string id, string reason, IOutputStorageProvider home, Dictionary<string, IOutputStorageProvider> byName,
        HashSet<(string, string)> referenced)
    {
        // Keep the command's own files for a human to look at: never sweep what a damaged record may have owned.
        if (home is ICommandRecordStore store)
        {
            foreach (var key in store.StoredKeys().Where(k => k.StartsWith(id + ".", StringComparison.Ordinal)))
            {
                referenced.Add((home.Name, key));
            }
        }
        var spec = new CommandSpec { Id = id, Command = "" };
        var log = new OutputLog(id, _ranking, _logger, [], 0, 0, 0, [], [], deleted: false);
        var now = DateTimeOffset.UtcNow;
        return new CommandRecord(spec, log, now, now, new CommandExit(-1, $"damaged record: {reason}"), CommandState.Damaged, false, null, null);
    }

    /// <summary>A reopened sink read only up to the length its record vouches for (bytes past it were never confirmed).</summary>
    private sealed class TruncatedSink(IOutputSink inner, long length) : IOutputSink
    {
        public IOutputStorageProvider Provider => inner.Provider;
        public long Length => length;
        public string? Key => inner.Key;
        public void Append(ReadOnlySpan<byte> data) => throw new InvalidOperationException("a re-indexed sink is read-only");
        public int Read(long offset, Span<byte> buffer) => offset >= length ? 0 : inner.Read(offset, buffer[..(int)Math.Min(buffer.Length, length - offset)]);
        public void Complete() { }
        public void Delete() => inner.Delete();
        public void Dispose() => inner.Dispose();
    }
}

/// <summary>A record that could not be re-indexed: where, which command, and why.</summary>
public sealed record DamagedRecord(string Provider, string CommandId, string Reason);

/// <summary>What re-indexing found at start-up.</summary>
public sealed record ReindexReport(int Restored, int Lost, int Swept, IReadOnlyList<DamagedRecord> Damaged, TimeSpan Elapsed, int Adopted = 0);

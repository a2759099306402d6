using System.Collections.Concurrent;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Execd.Core.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Commands;

/// <summary>
/// Starts commands on executors, keeps the registry of commands, and stops them on request. A command
/// is registered before anything about it is sent to the client, so status, logs and interrupt work
/// from the first event on.
/// </summary>
public sealed class CommandService
{
    private readonly ConcurrentDictionary<string, CommandRecord> _commands = new(StringComparer.Ordinal);
    // Start records queued on the thread pool and not yet written: a planned stop writes them itself (FlushStartRecords).
    private readonly ConcurrentDictionary<CommandRecord, byte> _startRecordsQueued = new();
    private readonly Dictionary<string, ICommandExecutor> _executors;
    private readonly StorageRanking _storage;
    private readonly TimeProvider _time;
    private readonly ILogger<CommandService> _logger;
    private readonly OutputCaps _caps;
    private readonly CommandJournal? _journal;
    private readonly bool _keepForNextDaemon;
    private readonly TimeSpan _healthTimeout;
    private readonly CaptureLocks? _captureLocks;

    public CommandService(IEnumerable<PluginContribution> contributions, IServiceProvider services, StorageRanking storage,
        TimeProvider time, ILogger<CommandService> logger, IOptions<StorageOptions>? storageOptions = null, CommandJournal? journal = null,
        IOptions<ShutdownOptions>? shutdown = null, CaptureLocks? captureLocks = null)
    {
        _captureLocks = captureLocks;
        _journal = journal is { Enabled: true } ? journal : null;
        _keepForNextDaemon = _journal is not null && (shutdown?.Value.RunningCommands ?? RunningCommandsOnShutdown.Keep) == RunningCommandsOnShutdown.Keep;
        _caps = storageOptions?.Value.Caps ?? OutputCaps.None;
        _healthTimeout = storageOptions?.Value.Health.Timeout ?? TimeSpan.FromSeconds(10);
        _storage = storage;
        _time = time;
        _logger = logger;
        _executors = new(StringComparer.OrdinalIgnoreCase);
        foreach (var (executor, plugin) in ContributionRegistry.Create<ICommandExecutor>(contributions, services, logger))
        {
            if (!_executors.TryAdd(executor.Name, executor))
            {
                plugin.MarkFailed($"executor name '{executor.Name}' is already taken by another plugin");
                logger.LogError("Plugin {Plugin}: executor name {Name} is already taken", plugin.Name, executor.Name);
            }
        }
    }

    public IReadOnlyCollection<string> ExecutorNames => _executors.Keys;

    // Longer than any health check may take (Storage:Health:Timeout, 10 s by default): the ranking is ready by then.
    private TimeSpan ReadyLimit => _healthTimeout + TimeSpan.FromSeconds(5);

    public bool TryGetExecutor(string name, out ICommandExecutor executor) => _executors.TryGetValue(name, out executor!);

    /// <summary>
    /// Activates the plugin of executor <paramref name="name"/> if it is activated on first use and not yet active.
    /// Null when the executor can run; otherwise why not (its plugin is then Failed with that reason).
    /// </summary>
    public async Task<string?> ActivateExecutorAsync(string name)
    {
        if (_executors.TryGetValue(name, out var executor) && executor is OnDemandExecutor onDemand)
        {
            try
            {
                await onDemand.ActivateAsync().ConfigureAwait(false);
            }
            catch (PluginActivationException ex)
            {
                return ex.Message;
            }
        }
        return null;
    }

    public bool TryGet(string id, out CommandRecord record) => _commands.TryGetValue(id, out record!);

    public IEnumerable<CommandRecord> All => _commands.Values;

    /// <summary>
    /// A fresh command id: a random (version 4) UUID as 32 lowercase hex characters, as upstream. On Linux <see cref="Guid.NewGuid"/>
    /// draws from the kernel's CSPRNG (getrandom) without loading OpenSSL, which RandomNumberGenerator would.
    /// </summary>
    public static string NewId() => Guid.NewGuid().ToString("N");

    /// <summary>
    /// Registers <paramref name="spec"/> and starts it on its executor. <paramref name="beforeStart"/> runs
    /// after registration and before the executor starts (a live reader subscribes there so it misses nothing).
    /// </summary>
    public CommandRecord Start(CommandSpec spec, TimeSpan? timeout, Action<CommandRecord>? beforeStart = null)
    {
        if (!_executors.TryGetValue(spec.Executor, out var executor))
        {
            throw new KeyNotFoundException($"unknown executor '{spec.Executor}'");
        }
        // Only executor runs are captured for a next daemon: session and code runs belong to a long-lived shell or kernel that is not re-adopted.
        // The capture directory comes from the ranking, so right after start-up this waits for the first healthy provider first (else every
        // provider is still "not checked yet" and a command started then would run without capture).
        _storage.WaitUntilReady(ReadyLimit);
        if (_keepForNextDaemon && spec.CaptureDirectory is null)
        {
            if (CaptureDirectory() is { } capture)
            {
                spec = spec with { CaptureDirectory = capture };
            }
            else
            {
                _logger.LogWarning("Command {Id}: no provider that keeps records has a usable directory; it is not captured for a next daemon", spec.Id);
            }
        }
        return Start(spec, timeout, beforeStart, executor.Name, (record, stop) => executor.ExecuteAsync(record.Spec, record, stop), ExecdInstruments.RunCommand);
    }

    /// <summary>
    /// Registers <paramref name="spec"/> and runs it with <paramref name="run"/> instead of an executor (for
    /// runs that belong to something else, such as a session): same registry, output log, status and logs.
    /// <paramref name="operation"/> is the <c>execd.execution.duration</c> operation it counts as.
    /// </summary>
    public CommandRecord Start(CommandSpec spec, TimeSpan? timeout, Action<CommandRecord>? beforeStart, string runnerName,
        Func<CommandRecord, CancellationToken, Task<CommandExit>> run, string operation = ExecdInstruments.RunInSession)
    {
        // Right after start-up the first health evaluation may still run: wait for the first healthy provider.
        _storage.WaitUntilReady(ReadyLimit);
        var log = new OutputLog(spec.Id, _storage, _logger, _caps);
        var record = Register(spec, log, _time.GetUtcNow());
        beforeStart?.Invoke(record);
        if (timeout is { } t)
        {
            record.StopAfter(t);
        }
        var span = ExecdInstruments.StartCommand(spec, runnerName, operation);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        _ = Task.Run(async () =>
        {
            var exit = await RunAsync(runnerName, run, record).ConfigureAwait(false);
            ExecdInstruments.FinishCommand(span, started, operation, exit, record.Log.Length);
        });
        return record;
    }

    /// <summary>
    /// Registers a command a previous daemon started whose process still runs (re-indexed at start-up): same id, its output log
    /// as stored so far; status, logs, the stream and interrupt work, and it finishes when the process is gone.
    /// </summary>
    internal CommandRecord Adopt(CommandSpec spec, OutputLog log, DateTimeOffset startedAt, int pid, long startTicks, (long Stdout, long Stderr)? pipes,
        object recordStore)
    {
        var record = Register(spec, log, startedAt);
        record.RecordStore = recordStore;
        record.CapturePipes = pipes;
        record.MayHaveRunJournal = true;   // the previous daemon's, if it appended to one
        // The record must name the sink this daemon stores the command's output in before a byte is in it: written after, a crash in
        // between would leave bytes no record names, which the next start-up sweeps. So the sink opens now, and the start record is
        // written here rather than queued, before the pipes are read.
        log.OpenActive();
        ((ICommandContext)record).ReportStarted(pid);
        SaveStarted(record);
        _ = Task.Run(() => RunAsync("re-adopted", (r, stop) => AdoptedProcess.WatchAsync(pid, startTicks, spec.CaptureDirectory, spec.Id, pipes, r, stop), record));
        return record;
    }

    /// <summary>
    /// Where commands in capture mode (kept for the next daemon) have their exit files written if they end while no daemon runs:
    /// <c>capture/</c> in the directory of the best provider that keeps records (so it outlives the daemon like the records do), or
    /// null (not captured) when there is none. Mode 0711: a command run as a uid writes into files made for it there. This daemon holds its
    /// lock (<see cref="CaptureLocks"/>) from the first command on, so a command it re-adopted in a later life never drains its pipes under it.
    /// </summary>
    private string? CaptureDirectory()
    {
        foreach (var ranked in _storage.Current)
        {
            // Never re-creates a provider's deleted directory as a side effect (the provider and its health check decide that). A provider
            // ranked unhealthy for the moment (a slow check on a loaded machine) still serves if its directory is there: the ranking puts
            // it after the healthy ones, and a command must not lose its capture (its re-adoption) to a passing verdict.
            if (ranked.Provider is not ICommandRecordStore || !Path.IsPathRooted(ranked.Provider.Location)
                || !Directory.Exists(ranked.Provider.Location))
            {
                continue;
            }
            var dir = Path.Combine(ranked.Provider.Location, "capture");
            try
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
                _captureLocks?.Hold(dir);
                return dir;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.LogDebug("Capture directory {Dir} unusable: {Error}", dir, ex.Message);
            }
        }
        return null;
    }

    private CommandRecord Register(CommandSpec spec, OutputLog log, DateTimeOffset startedAt)
    {
        var record = new CommandRecord(spec, log, startedAt);
        if (!_commands.TryAdd(spec.Id, record))
        {
            throw new InvalidOperationException($"command id {spec.Id} is already in use");
        }
        if (_journal is { } journal)
        {
            // The record is written once the process is known (with its pid, for a later re-adoption), beside the command: the
            // executor starts reading its output at once instead of waiting for the file, its rename and the /proc read. A daemon
            // that dies in the fraction of a millisecond before the record is there leaves no record: the command is not re-adopted.
            record.StartedReported += r =>
            {
                _startRecordsQueued.TryAdd(r, 0);
                ThreadPool.UnsafeQueueUserWorkItem(SaveStarted, r, preferLocal: false);
            };
            if (_keepForNextDaemon)
            {
                // Kept for the next daemon if it runs on through a crash: which stream writes from where goes to disk before the bytes do.
                log.RunStarting = run => journal.AppendRun(record, run);
            }
            // A failover copy swapped in, or a new sink opened (failover, the cap's next tail segment): the record must name the sinks
            // that hold the bytes now. Written off the log's lock and the writer's path; a crash before it lands loses what went into
            // a sink the record does not name yet (a failover or cap roll at the instant of a crash).
            log.SegmentsMoved += () =>
            {
                if (record.ProcessId is not null || !record.Running)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(r => SaveQuietly(r), record, preferLocal: false);
                }
            };
        }
        return record;
    }

    /// <summary>
    /// Writes now every start record still queued (a planned stop calls it, so a command started an instant before SIGTERM is
    /// re-adopted by the next daemon; the journal writes one record of a command at a time, so a save that runs later anyway
    /// only writes the same state again).
    /// </summary>
    public int FlushStartRecords()
    {
        var flushed = 0;
        foreach (var record in _startRecordsQueued.Keys)
        {
            // Also when the queued save is writing it right now: the journal's per-command gate makes this wait for it.
            SaveStarted(record);
            flushed++;
        }
        return flushed;
    }

    /// <summary>Rewrites the records of commands kept running for the next daemon (a planned stop, after their pumps stopped).</summary>
    internal void SaveRunningRecords(IEnumerable<CommandRecord> running)
    {
        foreach (var record in running.Where(r => r.Running && r.ProcessId is not null))
        {
            SaveQuietly(record);
        }
    }

    private void SaveQuietly(CommandRecord record)
    {
        try
        {
            _journal?.Save(record);
        }
        catch (Exception ex)
        {
            // On the thread pool: nothing may escape (it would end the daemon).
            _logger.LogError(ex, "Command {Id}: writing its record failed", record.Id);
        }
    }

    private void SaveStarted(CommandRecord record)
    {
        if (!_startRecordsQueued.ContainsKey(record))
        {
            return;   // already written by a stop's flush
        }
        try
        {
            SaveQuietly(record);
        }
        finally
        {
            _startRecordsQueued.TryRemove(record, out _);
        }
    }

    private async Task<CommandExit> RunAsync(string runnerName, Func<CommandRecord, CancellationToken, Task<CommandExit>> run, CommandRecord record)
    {
        CommandExit exit;
        var startFailed = false;
        try
        {
            exit = await run(record, record.StopToken).ConfigureAwait(false);
        }
        catch (CommandStartException ex)
        {
            startFailed = true;
            exit = new CommandExit(255, ex.Message);
            _logger.LogWarning("Command {Id} could not start: {Error}", record.Id, ex.Message);
        }
        catch (Exception ex)
        {
            // An executor bug must not take the daemon down or leave the command running forever.
            exit = new CommandExit(1, ex.Message);
            _logger.LogError(ex, "Executor {Executor} failed on command {Id}", runnerName, record.Id);
        }
        record.Finish(exit, _time.GetUtcNow(), startFailed);
        // After Finish: the client's final event waits neither for the output's fsync nor for the record (a daemon crash in
        // between reports the command lost; its output is in the page cache). Finish queued the live readers' final events on
        // this thread, where the thread pool may wake no other worker to take them: this thread goes back to the pool first
        // and sends them, and the fsync runs as a work item of its own. The fsync comes before the end record: a record that
        // says the command finished never points at bytes a power cut lost (a start record written late waits for it too: CommandJournal.Save).
        await Task.Yield();
        try
        {
            record.Log.SealActive();
            _journal?.Save(record);
        }
        finally
        {
            record.MarkSettled();
        }
        _logger.LogDebug("Command {Id} finished: exit {Exit}", record.Id, exit.ExitCode);
        CommandFinished?.Invoke(record);
        return exit;
    }

    /// <summary>Raised after a command finished and its output log is complete (retention listens).</summary>
    public event Action<CommandRecord>? CommandFinished;

    /// <summary>Removes a finished command and deletes its stored output.</summary>
    public bool Forget(string id)
    {
        if (_commands.TryGetValue(id, out var record) && !record.Running && _commands.TryRemove(id, out _))
        {
            record.Log.Delete();
            _journal?.Delete(record);
            return true;
        }
        return false;
    }

    /// <summary>Registers a command re-indexed from its durable record at start-up.</summary>
    internal void Restore(CommandRecord record) => _commands.TryAdd(record.Id, record);

    /// <summary>Records that a finished command's output was deleted (retention), so a restart does not count it as lost.</summary>
    public void OutputDeleted(CommandRecord record) => _journal?.Save(record);
}

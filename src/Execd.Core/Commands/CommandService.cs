using System.Collections.Concurrent;
using System.Security.Cryptography;
using Execd.Core.Plugins;
using Execd.Core.Storage;
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
    private readonly Dictionary<string, ICommandExecutor> _executors;
    private readonly StorageRanking _storage;
    private readonly TimeProvider _time;
    private readonly ILogger<CommandService> _logger;
    private readonly OutputCaps _caps;
    private readonly TimeSpan _healthTimeout;

    public CommandService(IEnumerable<PluginContribution> contributions, IServiceProvider services, StorageRanking storage,
        TimeProvider time, ILogger<CommandService> logger, IOptions<StorageOptions>? storageOptions = null)
    {
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

    /// <summary>A fresh command id: a random UUID as 32 lowercase hex characters, as upstream.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

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
        return Start(spec, timeout, beforeStart, executor.Name, (record, stop) => executor.ExecuteAsync(record.Spec, record, stop));
    }

    /// <summary>
    /// Registers <paramref name="spec"/> and runs it with <paramref name="run"/> instead of an executor (for
    /// runs that belong to something else, such as a session): same registry, output log, status and logs.
    /// </summary>
    public CommandRecord Start(CommandSpec spec, TimeSpan? timeout, Action<CommandRecord>? beforeStart, string runnerName,
        Func<CommandRecord, CancellationToken, Task<CommandExit>> run)
    {
        // Right after start-up the first health evaluation may still run: wait for the first healthy provider.
        _storage.WaitUntilReady(ReadyLimit);
        var log = new OutputLog(spec.Id, _storage, _logger, _caps);
        var record = new CommandRecord(spec, log, _time.GetUtcNow());
        if (!_commands.TryAdd(spec.Id, record))
        {
            throw new InvalidOperationException($"command id {spec.Id} is already in use");
        }
        beforeStart?.Invoke(record);
        if (timeout is { } t)
        {
            record.StopAfter(t);
        }
        _ = Task.Run(() => RunAsync(runnerName, run, record));
        return record;
    }

    private async Task RunAsync(string runnerName, Func<CommandRecord, CancellationToken, Task<CommandExit>> run, CommandRecord record)
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
        _logger.LogDebug("Command {Id} finished: exit {Exit}", record.Id, exit.ExitCode);
        CommandFinished?.Invoke(record);
    }

    /// <summary>Raised after a command finished and its output log is complete (retention listens).</summary>
    public event Action<CommandRecord>? CommandFinished;

    /// <summary>Removes a finished command and deletes its stored output.</summary>
    public bool Forget(string id)
    {
        if (_commands.TryGetValue(id, out var record) && !record.Running && _commands.TryRemove(id, out _))
        {
            record.Log.Delete();
            return true;
        }
        return false;
    }
}

using System.Collections.Immutable;
using Execd.Core.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Storage;

/// <summary>
/// The output storage providers contributed by plugins, in rank order: healthy before degraded before
/// unhealthy, then by priority (host configuration, <see cref="StoragePriorities"/>). Readers take <see cref="Current"/> or <see cref="Snapshot"/> (immutable)
/// and never wait on a health check; <see cref="StorageHealthMonitor"/> publishes new rankings.
/// </summary>
public sealed class StorageRanking
{
    private readonly ILogger<StorageRanking> _logger;
    private readonly object _gate = new();
    private volatile StorageSnapshot _snapshot;
    // Priority (host configuration, see StoragePriorities), then contribution order: the tie-breaks after health.
    private readonly Dictionary<IOutputStorageProvider, (int Priority, int Index)> _order;

    public StorageRanking(IEnumerable<PluginContribution> contributions, IServiceProvider services, ILogger<StorageRanking> logger)
    {
        _logger = logger;
        var providers = new List<IOutputStorageProvider>();
        foreach (var (provider, plugin) in ContributionRegistry.Create<IOutputStorageProvider>(contributions, services, logger))
        {
            if (providers.Any(p => p.Name == provider.Name))
            {
                plugin.MarkFailed($"storage provider name '{provider.Name}' is already taken by another plugin");
                logger.LogError("Plugin {Plugin}: storage provider name {Name} is already taken", plugin.Name, provider.Name);
                continue;
            }
            providers.Add(provider);
        }
        Providers = [.. providers];
        var configuration = services.GetService(typeof(IConfiguration)) as IConfiguration;
        _order = [];
        foreach (var (provider, index) in Providers.Select((p, i) => (p, i)))
        {
            _order[provider] = (StoragePriorities.Of(provider, configuration, out var invalid), index);
            if (invalid is not null)
            {
                logger.LogError("Storage provider {Provider}: {Error}", provider.Name, invalid);
            }
        }
        _snapshot = new StorageSnapshot(null, Rank(Providers.Select(p => new RankedProvider(p, ProviderHealth.Healthy, "not checked yet"))));
    }

    /// <summary>Every provider, in the order plugins contributed them.</summary>
    public ImmutableArray<IOutputStorageProvider> Providers { get; }

    /// <summary>The providers, best first.</summary>
    public ImmutableArray<RankedProvider> Current => _snapshot.Providers;

    /// <summary>The providers, best first, and when their health was evaluated.</summary>
    public StorageSnapshot Snapshot => _snapshot;

    private readonly HashSet<IOutputStorageProvider> _unchecked = [];
    private readonly Dictionary<IOutputStorageProvider, TaskCompletionSource> _checkedSignals = [];

    // Completed once the ranking can be used: at once unless a health monitor announced its first evaluation.
    private TaskCompletionSource _ready = CompletedReady();
    private TaskCompletionSource _evaluated = CompletedReady();

    private static TaskCompletionSource CompletedReady()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ready.SetResult();
        return ready;
    }

    /// <summary>
    /// Completes when a provider is found healthy and every provider ranked before it by priority was checked (so the
    /// top of the ranking is what a full evaluation would put there), or every provider was evaluated once.
    /// </summary>
    public Task Ready => _ready.Task;

    /// <summary>Completes when every provider was evaluated once (what /admin/storage and /healthz report wait for).</summary>
    public Task Evaluated => _evaluated.Task;

    /// <summary>Completes when each of <paramref name="providers"/> has its first verdict (at once when no evaluation is pending).</summary>
    public Task WhenChecked(IEnumerable<IOutputStorageProvider> providers)
    {
        lock (_gate)
        {
            var pending = providers.Where(_unchecked.Contains).Select(p =>
            {
                if (!_checkedSignals.TryGetValue(p, out var signal))
                {
                    _checkedSignals[p] = signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
                return signal.Task;
            }).ToList();
            return Task.WhenAll(pending);
        }
    }

    private void SignalChecked(IOutputStorageProvider provider)
    {
        if (_checkedSignals.Remove(provider, out var signal))
        {
            signal.TrySetResult();
        }
    }

    /// <summary>
    /// Called by the health monitor as the daemon starts: until its first evaluation finds a provider healthy,
    /// unchecked providers rank last ("not checked yet") and <see cref="Ready"/> is pending.
    /// </summary>
    public void ExpectEvaluation()
    {
        lock (_gate)
        {
            if (_snapshot.EvaluatedAt is not null || !_ready.Task.IsCompleted || Providers.IsEmpty)
            {
                return;
            }
            _ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _evaluated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _unchecked.UnionWith(Providers);
            _snapshot = new StorageSnapshot(null, Rank(Providers.Select(p => new RankedProvider(p, ProviderHealth.Unhealthy, "not checked yet"))));
        }
    }

    /// <summary>
    /// Waits (at most <paramref name="limit"/>) until <see cref="Ready"/>: only the first requests after start-up can
    /// wait, and only until one provider is found healthy. Synchronous because the command registry opens output
    /// synchronously; the completed case costs a field read.
    /// </summary>
    public void WaitUntilReady(TimeSpan limit)
    {
        var ready = _ready.Task;
        if (!ready.IsCompleted)
        {
            ready.Wait(limit);
        }
    }

    /// <summary>Publishes one provider's first check while the first evaluation runs (the others keep their places).</summary>
    public void PublishChecked(DateTimeOffset evaluatedAt, RankedProvider result)
    {
        lock (_gate)
        {
            _unchecked.Remove(result.Provider);
            _snapshot = new StorageSnapshot(evaluatedAt, Rank(_snapshot.Providers.Select(r => r.Provider == result.Provider ? result : r)));
            // After the snapshot: a waiter (re-indexing) runs on another thread and reads Current without the lock; signalled first, it
            // could still see this provider "not checked yet" (Unhealthy) and skip its records (commands 404 after a restart).
            SignalChecked(result.Provider);
            var health = _snapshot.Providers.ToDictionary(r => r.Provider, r => r.Health);
            foreach (var provider in Providers.OrderBy(p => _order[p]))
            {
                if (_unchecked.Contains(provider))
                {
                    break;
                }
                if (health[provider] == ProviderHealth.Healthy)
                {
                    _ready.TrySetResult();
                    break;
                }
            }
        }
    }

    /// <summary>Replaces the ranking (called by the health monitor after evaluating every provider); the entries are sorted here.</summary>
    public void Publish(DateTimeOffset evaluatedAt, IEnumerable<RankedProvider> providers)
    {
        lock (_gate)
        {
            var previous = _snapshot;
            _snapshot = new StorageSnapshot(evaluatedAt, Rank(providers));
            _unchecked.Clear();
            foreach (var provider in _checkedSignals.Keys.ToList())
            {
                SignalChecked(provider);
            }
            _ready.TrySetResult();
            _evaluated.TrySetResult();
            if (!previous.Providers.Select(p => p.Provider).SequenceEqual(_snapshot.Providers.Select(p => p.Provider)))
            {
                _logger.LogInformation("Storage ranking: {Ranking}", string.Join(", ", _snapshot.Providers.Select(p => $"{p.Provider.Name} ({p.Health})")));
            }
        }
    }

    /// <summary>Raised when a sink of a provider throws, so the ranking is re-evaluated at once.</summary>
    public event Action<IOutputStorageProvider, Exception>? Failed;

    /// <summary>Demotes <paramref name="provider"/> to unhealthy now (the next evaluation decides where it really belongs) and raises <see cref="Failed"/>.</summary>
    public void ReportFailure(IOutputStorageProvider provider, Exception error)
    {
        _logger.LogWarning("Storage provider {Provider} failed: {Error}", provider.Name, error.Message);
        lock (_gate)
        {
            var snapshot = _snapshot;
            _snapshot = snapshot with
            {
                Providers = Rank(snapshot.Providers.Select(r => r.Provider == provider
                    ? r with { Health = ProviderHealth.Unhealthy, Reason = $"write failed: {error.Message}" }
                    : r)),
            };
        }
        Failed?.Invoke(provider, error);
    }

    private ImmutableArray<RankedProvider> Rank(IEnumerable<RankedProvider> providers) =>
        [.. providers.OrderBy(p => p.Health).ThenBy(p => p.Checked ? 0 : 1)
            .ThenBy(p => _order.GetValueOrDefault(p.Provider, (StoragePriorities.OtherKindDefault, int.MaxValue)))
            .ThenBy(p => p.Provider.Name, StringComparer.Ordinal)];
}

public enum ProviderHealth { Healthy = 0, Degraded = 1, Unhealthy = 2 }

/// <summary>One provider's place in the ranking: its health, why, and how many bytes it can still take (when known).</summary>
/// <param name="Checked">False when the provider has no health check: it then ranks after checked providers of its health.</param>
public sealed record RankedProvider(IOutputStorageProvider Provider, ProviderHealth Health, string Reason, long? FreeBytes = null, bool Checked = true);

/// <summary>An immutable ranking; <see cref="EvaluatedAt"/> is null until the first health evaluation.</summary>
public sealed record StorageSnapshot(DateTimeOffset? EvaluatedAt, ImmutableArray<RankedProvider> Providers);

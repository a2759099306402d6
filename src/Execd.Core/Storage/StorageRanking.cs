using System.Collections.Immutable;
using System.Runtime.InteropServices;
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
    private readonly Dictionary<IOutputStorageProvider, Order> _order;
    // The providers in that order: where the first evaluation looks for the first provider found healthy.
    private readonly IOutputStorageProvider[] _byPriority;

    private sealed record Order(int Priority, int Index);

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
        for (var index = 0; index < Providers.Length; index++)
        {
            var provider = Providers[index];
            _order[provider] = new Order(StoragePriorities.Of(provider, configuration, out var invalid), index);
            if (invalid is not null)
            {
                logger.LogError("Storage provider {Provider}: {Error}", provider.Name, invalid);
            }
        }
        _byPriority = [.. Providers];
        Array.Sort(_byPriority, (a, b) => ComparePriority(_order[a], _order[b]));
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
            foreach (var provider in _byPriority)
            {
                if (_unchecked.Contains(provider))
                {
                    break;
                }
                if (HealthOf(provider) == ProviderHealth.Healthy)
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

    private ProviderHealth? HealthOf(IOutputStorageProvider provider)
    {
        foreach (var ranked in _snapshot.Providers)
        {
            if (ranked.Provider == provider)
            {
                return ranked.Health;
            }
        }
        return null;
    }

    // Healthy, degraded, unhealthy; checked before unchecked; then priority and contribution order; then the name (unique: a
    // second provider of a taken name is refused), so the order is total. One comparison rather than LINQ's chain of sort keys,
    // whose key types (an enum, a tuple) each cost generic code compiled by the JIT when the first ranking is made at start-up.
    private ImmutableArray<RankedProvider> Rank(IEnumerable<RankedProvider> providers)
    {
        var ranked = providers.ToArray();
        Array.Sort(ranked, CompareRank);
        return ImmutableCollectionsMarshal.AsImmutableArray(ranked);
    }

    private int CompareRank(RankedProvider x, RankedProvider y)
    {
        if (x.Health != y.Health)
        {
            return ((int)x.Health).CompareTo((int)y.Health);
        }
        if (x.Checked != y.Checked)
        {
            return x.Checked ? -1 : 1;
        }
        var byPriority = ComparePriority(OrderOf(x.Provider), OrderOf(y.Provider));
        return byPriority != 0 ? byPriority : string.CompareOrdinal(x.Provider.Name, y.Provider.Name);
    }

    private Order OrderOf(IOutputStorageProvider provider) =>
        _order.TryGetValue(provider, out var order) ? order : new Order(StoragePriorities.OtherKindDefault, int.MaxValue);

    private static int ComparePriority(Order a, Order b) =>
        a.Priority != b.Priority ? a.Priority.CompareTo(b.Priority) : a.Index.CompareTo(b.Index);
}

public enum ProviderHealth { Healthy = 0, Degraded = 1, Unhealthy = 2 }

/// <summary>One provider's place in the ranking: its health, why, and how many bytes it can still take (when known).</summary>
/// <param name="Checked">False when the provider has no health check: it then ranks after checked providers of its health.</param>
public sealed record RankedProvider(IOutputStorageProvider Provider, ProviderHealth Health, string Reason, long? FreeBytes = null, bool Checked = true);

/// <summary>An immutable ranking; <see cref="EvaluatedAt"/> is null until the first health evaluation.</summary>
public sealed record StorageSnapshot(DateTimeOffset? EvaluatedAt, ImmutableArray<RankedProvider> Providers);

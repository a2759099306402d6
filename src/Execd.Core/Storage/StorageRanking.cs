using System.Collections.Immutable;
using Execd.Core.Plugins;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Storage;

/// <summary>
/// The output storage providers contributed by plugins, in rank order. Readers take
/// <see cref="Current"/> (an immutable snapshot) and never wait on a health check.
/// </summary>
public sealed class StorageRanking
{
    private readonly ILogger<StorageRanking> _logger;
    private ImmutableArray<RankedProvider> _current;

    public StorageRanking(IEnumerable<PluginContribution> contributions, IServiceProvider services, ILogger<StorageRanking> logger)
    {
        _logger = logger;
        Providers = ContributionRegistry.Create<IOutputStorageProvider>(contributions, services, logger)
            .Select(p => p.Instance).ToImmutableArray();
        _current = Providers.OrderBy(p => p.Priority).Select(p => new RankedProvider(p, ProviderHealth.Healthy, "not checked yet")).ToImmutableArray();
    }

    /// <summary>Every provider, in the order plugins contributed them.</summary>
    public ImmutableArray<IOutputStorageProvider> Providers { get; }

    /// <summary>The providers, best first.</summary>
    public ImmutableArray<RankedProvider> Current => _current;

    /// <summary>Replaces the ranking (called by the health publisher).</summary>
    public void Publish(ImmutableArray<RankedProvider> ranking) => _current = ranking;

    /// <summary>Raised when a sink of a provider throws, so the ranking is re-evaluated at once.</summary>
    public event Action<IOutputStorageProvider, Exception>? Failed;

    public void ReportFailure(IOutputStorageProvider provider, Exception error)
    {
        _logger.LogWarning("Storage provider {Provider} failed: {Error}", provider.Name, error.Message);
        // Demote it now; the next health evaluation decides where it really belongs.
        var ranking = _current;
        var index = -1;
        for (var i = 0; i < ranking.Length; i++)
        {
            if (ranking[i].Provider == provider)
            {
                index = i;
                break;
            }
        }
        if (index >= 0)
        {
            var demoted = ranking[index] with { Health = ProviderHealth.Unhealthy, Reason = $"write failed: {error.Message}" };
            _current = ranking.RemoveAt(index).Add(demoted);
        }
        Failed?.Invoke(provider, error);
    }
}

public enum ProviderHealth { Healthy = 0, Degraded = 1, Unhealthy = 2 }

public sealed record RankedProvider(IOutputStorageProvider Provider, ProviderHealth Health, string Reason);

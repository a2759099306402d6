using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Storage;

/// <summary>
/// Runs every health check in the background — every <see cref="StorageOptions.HealthOptions.Interval"/> and
/// at once when a provider fails a write — and publishes the storage ranking and the latest report.
/// Requests read what was published; they never run a check.
/// </summary>
public sealed class StorageHealthMonitor : BackgroundService
{
    private readonly HealthCheckService _checks;
    private readonly StorageRanking _ranking;
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<StorageHealthMonitor> _logger;
    private readonly WakeSignal _wake = new();
    private volatile HealthReport? _report;

    public StorageHealthMonitor(HealthCheckService checks, StorageRanking ranking, IOptions<StorageOptions> options, TimeProvider time,
        ILogger<StorageHealthMonitor> logger)
    {
        _checks = checks;
        _ranking = ranking;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _ranking.Failed += (_, _) => _wake.Set();
    }

    /// <summary>The latest report of every health check (null before the first evaluation).</summary>
    public HealthReport? LastReport => _report;

    /// <summary>When <see cref="LastReport"/> was taken.</summary>
    public DateTimeOffset? LastEvaluatedAt { get; private set; }

    /// <summary>Asks for an evaluation now (coalesced with one already pending).</summary>
    public void RequestEvaluation() => _wake.Set();

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // The first ranking is real before the first request is served.
        await EvaluateAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _wake.WaitAsync(_options.Health.Interval, stoppingToken))
        {
            await EvaluateAsync(stoppingToken);
        }
    }

    /// <summary>Runs every check once and publishes the result.</summary>
    public async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        HealthReport report;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.Health.Timeout);
            report = await _checks.CheckHealthAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("Health checks took longer than {Timeout}", _options.Health.Timeout);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var now = _time.GetUtcNow();
        _report = report;
        LastEvaluatedAt = now;
        _ranking.Publish(now, _ranking.Providers.Select(p => Rank(p, report)));
    }

    private static RankedProvider Rank(IOutputStorageProvider provider, HealthReport report)
    {
        if (!report.Entries.TryGetValue(provider.Name, out var entry))
        {
            return new RankedProvider(provider, ProviderHealth.Healthy, "no health check registered");
        }
        var health = entry.Status switch
        {
            HealthStatus.Healthy => ProviderHealth.Healthy,
            HealthStatus.Degraded => ProviderHealth.Degraded,
            _ => ProviderHealth.Unhealthy,
        };
        long? free = entry.Data.TryGetValue(StorageHealth.FreeBytesKey, out var value) && value is IConvertible c
            ? c.ToInt64(CultureInfo.InvariantCulture)
            : null;
        return new RankedProvider(provider, health, entry.Description ?? entry.Exception?.Message ?? entry.Status.ToString(), free);
    }
}

/// <summary>Degraded while any plugin failed to load, register or construct (the reasons are in the description).</summary>
public sealed class PluginHealthCheck(Plugins.PluginCatalog catalog) : IHealthCheck
{
    public const string Name = "plugins";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failed = catalog.Plugins.Where(p => p.State == Plugins.PluginState.Failed).ToList();
        return Task.FromResult(failed.Count == 0
            ? HealthCheckResult.Healthy($"{catalog.Plugins.Count} plugins loaded")
            : HealthCheckResult.Degraded(string.Join("; ", failed.Select(p => $"{p.Name}: {p.Reason}"))));
    }
}

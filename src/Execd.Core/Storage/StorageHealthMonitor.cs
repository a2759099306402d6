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

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Start-up does not wait for any health check (the first /ping must not): requests that open output wait
        // on the ranking until the first provider is found healthy (StorageRanking.WaitUntilReady).
        _ranking.ExpectEvaluation();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield(); // off the host's start-up path
        await FirstEvaluationAsync(stoppingToken);
        while (await _wake.WaitAsync(_options.Health.Interval, stoppingToken))
        {
            await EvaluateAsync(stoppingToken);
        }
    }

    /// <summary>
    /// The first evaluation checks each provider on its own and publishes each result as it comes, so one slow
    /// check (a hung network mount) keeps nobody waiting once another provider is found healthy.
    /// </summary>
    private async Task FirstEvaluationAsync(CancellationToken stoppingToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var results = new System.Collections.Concurrent.ConcurrentDictionary<IOutputStorageProvider, RankedProvider>();
        var entries = new System.Collections.Concurrent.ConcurrentDictionary<string, HealthReportEntry>(StringComparer.OrdinalIgnoreCase);
        var providerNames = _ranking.Providers.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_options.Health.Timeout);
        var checks = _ranking.Providers.Select(async provider =>
        {
            RankedProvider ranked;
            try
            {
                var report = await _checks.CheckHealthAsync(r => r.Name == provider.Name, timeout.Token);
                foreach (var (name, entry) in report.Entries)
                {
                    entries[name] = entry;
                }
                ranked = Rank(provider, report);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                var reason = $"health check took longer than {_options.Health.Timeout}";
                entries[provider.Name] = new HealthReportEntry(HealthStatus.Unhealthy, reason, clock.Elapsed, null, null);
                ranked = new RankedProvider(provider, ProviderHealth.Unhealthy, reason);
            }
            results[provider] = ranked;
            _ranking.PublishChecked(_time.GetUtcNow(), ranked);
            if (ranked.Health == ProviderHealth.Healthy)
            {
                _logger.LogDebug("Start-up: storage provider {Provider} found healthy after {Elapsed} ms of evaluation", provider.Name, clock.ElapsedMilliseconds);
            }
        }).ToList();
        // The host's own checks (plugins) complete the report /healthz shows.
        checks.Add(Task.Run(async () =>
        {
            var report = await _checks.CheckHealthAsync(r => !providerNames.Contains(r.Name), timeout.Token);
            foreach (var (name, entry) in report.Entries)
            {
                entries[name] = entry;
            }
        }));
        try
        {
            await Task.WhenAll(checks);
        }
        catch (OperationCanceledException)
        {
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
        var now = _time.GetUtcNow();
        _report = new HealthReport(entries.ToDictionary(StringComparer.OrdinalIgnoreCase), clock.Elapsed);
        LastEvaluatedAt = now;
        _ranking.Publish(now, _ranking.Providers.Select(p => results.GetValueOrDefault(p) ?? new RankedProvider(p, ProviderHealth.Unhealthy, "not checked")));
        _logger.LogDebug("Start-up: first storage evaluation complete after {Elapsed} ms", clock.ElapsedMilliseconds);
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

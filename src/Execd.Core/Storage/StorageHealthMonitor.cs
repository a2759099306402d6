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
    private readonly IServiceProvider _services;
    private readonly IReadOnlyList<HealthCheckRegistration> _registrations;
    private readonly StorageRanking _ranking;
    private readonly StorageOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<StorageHealthMonitor> _logger;
    private readonly WakeSignal _wake = new();
    private volatile HealthReport? _report;

    public StorageHealthMonitor(IServiceProvider services, IOptions<HealthCheckServiceOptions> checks, StorageRanking ranking, IOptions<StorageOptions> options,
        TimeProvider time, ILogger<StorageHealthMonitor> logger)
    {
        _services = services;
        _registrations = [.. checks.Value.Registrations];
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

    /// <summary>
    /// Runs every check once, each on its own with its own timeout (the registration's, else <see cref="StorageOptions.HealthOptions.Timeout"/>),
    /// so a check that hangs — even one that ignores cancellation — counts as failed and delays neither the others nor start-up.
    /// </summary>
    public async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        HealthReportEntry[] entries;
        try
        {
            entries = await Task.WhenAll(_registrations.Select(r => RunAsync(r, cancellationToken)));
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var report = new HealthReport(_registrations.Select((r, i) => (r.Name, Entry: entries[i])).ToDictionary(e => e.Name, e => e.Entry),
            System.Diagnostics.Stopwatch.GetElapsedTime(started));
        var now = _time.GetUtcNow();
        _report = report;
        LastEvaluatedAt = now;
        _ranking.Publish(now, _ranking.Providers.Select(p => Rank(p, report)));
    }

    private async Task<HealthReportEntry> RunAsync(HealthCheckRegistration registration, CancellationToken stopping)
    {
        var timeout = registration.Timeout > TimeSpan.Zero && registration.Timeout != System.Threading.Timeout.InfiniteTimeSpan
            ? registration.Timeout
            : _options.Health.Timeout;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        cancel.CancelAfter(timeout);
        // On the thread pool: a check that blocks synchronously must not block this loop either.
        var check = Task.Run(async () =>
        {
            var instance = registration.Factory(_services);
            return await instance.CheckHealthAsync(new HealthCheckContext { Registration = registration }, cancel.Token);
        }, CancellationToken.None);
        try
        {
            var result = await check.WaitAsync(timeout, stopping);
            return new HealthReportEntry(result.Status, result.Description, System.Diagnostics.Stopwatch.GetElapsedTime(started), result.Exception,
                result.Data, registration.Tags);
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            var timedOut = ex is TimeoutException or OperationCanceledException;
            if (timedOut)
            {
                _logger.LogWarning("Health check {Name} took longer than {Timeout}", registration.Name, timeout);
            }
            var description = timedOut ? $"health check timed out after {timeout.TotalSeconds:0.###} s" : $"health check failed: {ex.Message}";
            return new HealthReportEntry(registration.FailureStatus, description, System.Diagnostics.Stopwatch.GetElapsedTime(started), timedOut ? null : ex,
                null, registration.Tags);
        }
    }

    private static RankedProvider Rank(IOutputStorageProvider provider, HealthReport report)
    {
        if (!report.Entries.TryGetValue(provider.Name, out var entry))
        {
            // Unchecked is not known to be healthy: below every checked provider that is not unhealthy (see StorageRanking).
            return new RankedProvider(provider, ProviderHealth.Degraded, "no health check registered", Checked: false);
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

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
    // Checks still running, including ones abandoned at their timeout or at the stop: a stop waits for them (bounded), so no check
    // writes a probe into, or re-creates, a provider's directory after the daemon stopped.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _running = new();
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

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Start-up does not wait for any health check (the first /ping must not): requests that open output wait
        // on the ranking until the first provider is found healthy (StorageRanking.WaitUntilReady).
        _ranking.ExpectEvaluation();
        return base.StartAsync(cancellationToken);
    }

    /// <summary>
    /// Stops the evaluation loop, then waits for checks still running (each is bounded by its timeout; one that ignores it is
    /// waited for at most <see cref="StorageOptions.HealthOptions.Timeout"/> more, then left and logged).
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        var running = _running.Keys.ToArray();
        if (running.Length == 0)
        {
            return;
        }
        try
        {
            await Task.WhenAll(running).WaitAsync(_options.Health.Timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("Stopping: {Count} storage health checks still running after {Timeout}; not waited for", running.Count(t => !t.IsCompleted),
                _options.Health.Timeout);
        }
        catch (Exception ex) when (ex is OperationCanceledException || running.All(t => t.IsCompleted))
        {
            // The host's shutdown timeout ran out, or the checks ended (their own failures were reported by the evaluation).
        }
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
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var providers = _ranking.Providers.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        HealthReportEntry[] entries;
        try
        {
            entries = await Task.WhenAll(_registrations.Select(async r =>
            {
                var entry = await RunAsync(r, stoppingToken);
                if (providers.TryGetValue(r.Name, out var provider))
                {
                    var ranked = Rank(provider, entry);
                    _ranking.PublishChecked(_time.GetUtcNow(), ranked);
                    if (ranked.Health == ProviderHealth.Healthy)
                    {
                        _logger.LogDebug("Start-up: storage provider {Provider} found healthy after {Elapsed:0} ms of evaluation", provider.Name,
                            System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                }
                return entry;
            }));
        }
        catch (OperationCanceledException)
        {
            return;
        }
        Publish(entries, started);
        _logger.LogDebug("Start-up: first storage evaluation complete after {Elapsed:0} ms", System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
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
        Publish(entries, started);
    }

    private void Publish(HealthReportEntry[] entries, long started)
    {
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
        _running.TryAdd(check, 0);
        _ = check.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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

    private static RankedProvider Rank(IOutputStorageProvider provider, HealthReport report) =>
        report.Entries.TryGetValue(provider.Name, out var entry)
            ? Rank(provider, entry)
            // Unchecked is not known to be healthy: below every checked provider that is not unhealthy (see StorageRanking).
            : new RankedProvider(provider, ProviderHealth.Degraded, "no health check registered", Checked: false);

    private static RankedProvider Rank(IOutputStorageProvider provider, HealthReportEntry entry)
    {
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

using System.Diagnostics;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Execd.Core.Tests.Fakes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Execd.Core.Tests;

/// <summary>Issue 14 item 5: a ranking that cannot lie — unchecked providers below checked ones, each check with its own timeout.</summary>
public sealed class StorageHealthMonitorTests
{
    private sealed class Check(Func<CancellationToken, Task<HealthCheckResult>> run) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) => run(cancellationToken);
    }

    private static (StorageHealthMonitor Monitor, StorageRanking Ranking) Create(IOutputStorageProvider[] providers, Action<IHealthChecksBuilder> checks,
        TimeSpan? timeout = null)
    {
        var services = new ServiceCollection();
        // Priority is host configuration: the provider without a check gets the best one, so only the check can rank it last.
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(
            providers.Select((p, i) => KeyValuePair.Create<string, string?>($"{StoragePriorities.Section}:{p.Name}", $"{i}"))).Build());
        checks(services.AddHealthChecks());
        var sp = services.BuildServiceProvider();
        var plugin = new PluginInfo("fake", "fake.dll");
        var ranking = new StorageRanking(providers.Select(p => new PluginContribution(plugin, typeof(IOutputStorageProvider), _ => p, p.Name)), sp,
            NullLogger<StorageRanking>.Instance);
        var options = Options.Create(new StorageOptions { Health = { Timeout = timeout ?? TimeSpan.FromMilliseconds(300) } });
        var monitor = new StorageHealthMonitor(sp, sp.GetRequiredService<IOptions<HealthCheckServiceOptions>>(), ranking, options, TimeProvider.System,
            NullLogger<StorageHealthMonitor>.Instance);
        return (monitor, ranking);
    }

    [Fact]
    public async Task ProviderWithoutACheck_RanksBelowCheckedProvidersEvenWithABetterPriority()
    {
        var unchecked_ = new FakeStorageProvider("unchecked");
        var healthy = new FakeStorageProvider("healthy");
        var degraded = new FakeStorageProvider("degraded");
        var (monitor, ranking) = Create([unchecked_, healthy, degraded], b => b
            .AddCheck("healthy", new Check(_ => Task.FromResult(HealthCheckResult.Healthy())), tags: [StorageHealth.Tag])
            .AddCheck("degraded", new Check(_ => Task.FromResult(HealthCheckResult.Degraded("low"))), tags: [StorageHealth.Tag]));

        await monitor.EvaluateAsync(CancellationToken.None);

        Assert.Equal(["healthy", "degraded", "unchecked"], ranking.Current.Select(r => r.Provider.Name));
        Assert.False(ranking.Current[2].Checked);
    }

    [Fact]
    public async Task Stop_WaitsForACheckStillRunning_SoNoCheckTouchesAProviderAfterTheDaemonStopped()
    {
        var slow = new FakeStorageProvider("slow");
        using var started = new ManualResetEventSlim();
        var finished = 0;
        var (monitor, _) = Create([slow], b => b.AddCheck("slow", new Check(_ =>
        {
            started.Set();
            Thread.Sleep(500);   // a probe write on a slow disk; ignores the token
            Volatile.Write(ref finished, 1);
            return Task.FromResult(HealthCheckResult.Healthy());
        }), tags: [StorageHealth.Tag]), timeout: TimeSpan.FromSeconds(20));

        await monitor.StartAsync(CancellationToken.None);
        Assert.True(started.Wait(TimeSpan.FromSeconds(20)), "the check did not start");
        await monitor.StopAsync(CancellationToken.None);

        Assert.Equal(1, Volatile.Read(ref finished));
    }

    [Fact]
    public async Task HangingCheck_EvenOneIgnoringCancellation_TimesOutAloneAndOthersStillCount()
    {
        var hanging = new FakeStorageProvider("hanging");
        var good = new FakeStorageProvider("good");
        using var release = new ManualResetEventSlim();
        var (monitor, ranking) = Create([hanging, good], b => b
            .AddCheck("hanging", new Check(_ =>
            {
                release.Wait(TimeSpan.FromSeconds(30));   // blocks its thread and ignores the token
                return Task.FromResult(HealthCheckResult.Healthy());
            }), tags: [StorageHealth.Tag])
            .AddCheck("good", new Check(_ => Task.FromResult(HealthCheckResult.Healthy())), tags: [StorageHealth.Tag]),
            // Long enough for the good check to get a thread while the hanging one blocks one (other tests run beside this one).
            timeout: TimeSpan.FromSeconds(2));
        var watch = Stopwatch.StartNew();

        await monitor.EvaluateAsync(CancellationToken.None);
        release.Set();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"evaluation took {watch.Elapsed}");
        Assert.Equal(["good", "hanging"], ranking.Current.Select(r => r.Provider.Name));
        Assert.Equal(ProviderHealth.Unhealthy, ranking.Current[1].Health);
        Assert.Contains("timed out", ranking.Current[1].Reason, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Unhealthy, monitor.LastReport!.Entries["hanging"].Status);
    }

    [Fact]
    public void WhenChecked_CompletesOnceEachNamedProviderHasItsFirstVerdict_NotWaitingForOthers()
    {
        var records = new FakeStorageProvider("records");
        var slow = new FakeStorageProvider("slow");
        var (_, ranking) = Create([records, slow], b => b.AddCheck("records", new Check(_ => Task.FromResult(HealthCheckResult.Healthy())), tags: [StorageHealth.Tag]));
        ranking.ExpectEvaluation();

        var waiting = ranking.WhenChecked([records]);
        Assert.False(waiting.IsCompleted);
        ranking.PublishChecked(DateTimeOffset.UtcNow, new RankedProvider(slow, ProviderHealth.Healthy, "ok"));
        Assert.False(waiting.IsCompleted);
        ranking.PublishChecked(DateTimeOffset.UtcNow, new RankedProvider(records, ProviderHealth.Healthy, "ok"));
        Assert.True(waiting.IsCompletedSuccessfully);
        Assert.False(ranking.Evaluated.IsCompleted);

        // After a full evaluation nothing is pending.
        ranking.Publish(DateTimeOffset.UtcNow, [new RankedProvider(records, ProviderHealth.Healthy, "ok"), new RankedProvider(slow, ProviderHealth.Healthy, "ok")]);
        Assert.True(ranking.WhenChecked([records, slow]).IsCompletedSuccessfully);
    }
}

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Commands;

/// <summary>
/// Gives memory back after a burst (issue 11 finding 10). An idle daemon allocates nothing, so no collection runs and
/// the heap a burst grew stays committed (RSS stayed at 700–830 MiB). Every <see cref="Interval"/>, when no command is
/// running, nothing ran since the last look, and the GC heap has more committed than after the last trim plus
/// <see cref="Slack"/>, one aggressive compacting collection returns the free memory to the system. It never runs while
/// commands run, so it costs nothing on the hot path.
/// </summary>
public sealed class IdleMemoryTrimmer(CommandService commands, ILogger<IdleMemoryTrimmer> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private const long Slack = 32L << 20;

    /// <summary>When the first look comes: start-up's garbage (configuration, plugin scanning, DI) is let go once, soon after.</summary>
    public static readonly TimeSpan FirstLook = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Start-up allocates a few MiB that are garbage once the daemon listens and nothing collects an idle daemon's heap: one
        // compacting collection shortly after start-up (when no command runs) gives it back (issue 17: idle memory).
        var baseline = 0L;
        try
        {
            await Task.Delay(FirstLook, stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var lastCount = commands.All.Count();
        if (!commands.All.Any(r => r.Running))
        {
            var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            baseline = GC.GetGCMemoryInfo().TotalCommittedBytes;
            logger.LogDebug("After start-up: GC heap committed {Before} -> {After} bytes", before, baseline);
        }
        else
        {
            baseline = GC.GetGCMemoryInfo().TotalCommittedBytes;
        }
        using var timer = new PeriodicTimer(Interval);
        while (await NextTickAsync(timer, stoppingToken))
        {
            var count = commands.All.Count();
            var busy = count != lastCount || commands.All.Any(r => r.Running);
            lastCount = count;
            var committed = GC.GetGCMemoryInfo().TotalCommittedBytes;
            if (busy || committed <= baseline + Slack)
            {
                continue;
            }
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            baseline = GC.GetGCMemoryInfo().TotalCommittedBytes;
            logger.LogDebug("Idle: GC heap committed {Before} -> {After} bytes", committed, baseline);
        }
    }

    // A stop (also one that comes while the host is still starting, e.g. the port is taken) ends the loop quietly.
    private static async Task<bool> NextTickAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
    }
}

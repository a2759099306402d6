namespace Execd.Core.Sessions;

/// <summary>The schedule of the reapers that end idle sessions and terminals.</summary>
public static class IdleReaping
{
    /// <summary>How often a reaper looks: a quarter of the idle timeout, between 100 ms and 30 s.</summary>
    public static TimeSpan Interval(TimeSpan idleTimeout) =>
        TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks));
}

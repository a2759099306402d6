using System.Diagnostics;

namespace Execd.Benchmarks;

internal static class Stats
{
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToArray();
        var rank = Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Length) - 1, 0, sorted.Length - 1);
        return sorted[rank];
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);

    /// <summary>Runs <paramref name="body"/> <paramref name="count"/> times sequentially, returning each duration in ms.</summary>
    public static async Task<List<double>> TimeEachAsync(int count, Func<Task> body)
    {
        var times = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await body();
            times.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        return times;
    }

    public static long UnixNanos() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
}

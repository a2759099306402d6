using System.Text.Json;

namespace Execd.Server.Api;

/// <summary><c>/metrics</c> and <c>/metrics/watch</c>: CPU and memory of the machine (or container), as upstream.</summary>
public static class MetricsApi
{
    private static readonly TimeSpan Sample = TimeSpan.FromMilliseconds(200);

    public static IEndpointRouteBuilder MapMetrics(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", async (TimeProvider time, CancellationToken ct) =>
            TypedResults.Json(await ReadAsync(time, ct), WireJson.Default.MetricsResponse, contentType: "application/json; charset=utf-8"));
        app.MapGet("/metrics/watch", WatchAsync);
        return app;
    }

    /// <summary>Streams one JSON object per line (upstream's framing for this endpoint) about once a second until the client leaves.</summary>
    private static async Task WatchAsync(HttpContext http, TimeProvider time)
    {
        Streaming.EventStreamWriter.SetHeaders(http.Response);
        var ct = http.RequestAborted;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1) - Sample, time, ct);
                var metrics = await ReadAsync(time, ct);
                await JsonSerializer.SerializeAsync(http.Response.Body, metrics, WireJson.Default.MetricsResponse, ct);
                await http.Response.Body.WriteAsync("\n"u8.ToArray(), ct);
                await http.Response.Body.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException)
        {
            // Client left.
        }
    }

    internal static async Task<MetricsResponse> ReadAsync(TimeProvider time, CancellationToken ct)
    {
        var timestamp = time.GetUtcNow().ToUnixTimeMilliseconds();
        var before = ReadCpu();
        await Task.Delay(Sample, time, ct);
        var after = ReadCpu();
        var busy = (after.Total - after.Idle) - (before.Total - before.Idle);
        var total = after.Total - before.Total;
        var pct = total > 0 ? Math.Round(100.0 * busy / total, 2) : 0;
        var (memTotal, memAvailable) = ReadMemory();
        return new MetricsResponse(Environment.ProcessorCount, pct, Math.Round(memTotal / 1024.0, 1),
            Math.Round((memTotal - memAvailable) / 1024.0, 1), timestamp);
    }

    internal static (long Total, long Idle) ReadCpu()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First();
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
            var idle = fields[3] + (fields.Length > 4 ? fields[4] : 0);
            return (fields.Sum(), idle);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException or InvalidOperationException)
        {
            return (0, 0);
        }
    }

    /// <summary>MemTotal and MemAvailable in KiB from <c>/proc/meminfo</c>.</summary>
    internal static (long Total, long Available) ReadMemory()
    {
        long total = 0, available = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    total = ParseKb(line);
                }
                else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    available = ParseKb(line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or /proc hidden: report zeros rather than fail.
        }
        return (total, available);
    }

    private static long ParseKb(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}

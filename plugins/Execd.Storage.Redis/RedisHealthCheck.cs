using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Execd.Storage.Redis;

/// <summary>
/// Connection state, PING latency, <c>maxmemory</c> headroom and a write probe (SET with an expiry, then DEL).
/// Never throws: a failure is the registration's failure status with the reason.
/// </summary>
internal sealed class RedisHealthCheck(RedisStorageProvider provider) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        var data = new Dictionary<string, object>();
        IDatabase db;
        try
        {
            db = provider.Database();
        }
        catch (IOException ex)
        {
            return new HealthCheckResult(failure, ex.Message, data: data);
        }
        try
        {
            var ping = await db.PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            data["ping_ms"] = ping.TotalMilliseconds;
            var (used, max, system) = ParseMemory((string?)await db.ExecuteAsync("INFO", "memory").WaitAsync(cancellationToken).ConfigureAwait(false));
            var limit = max > 0 ? max : system;
            var free = limit > 0 ? Math.Max(0, limit - used) : long.MaxValue;
            data[StorageHealth.FreeBytesKey] = free;
            data["used_memory"] = used;
            data["maxmemory"] = max;
            var memory = max > 0 ? $"{used} of maxmemory {max} bytes used" : $"{used} bytes used, no maxmemory";
            if (max > 0 && free == 0)
            {
                return new HealthCheckResult(failure, $"Redis at {provider.Location}: maxmemory reached ({memory})", data: data);
            }
            var probe = provider.Keys.Probe;
            var stopwatch = Stopwatch.StartNew();
            await db.StringSetAsync(probe, "execd storage probe", TimeSpan.FromSeconds(30)).WaitAsync(cancellationToken).ConfigureAwait(false);
            await db.KeyDeleteAsync(probe).WaitAsync(cancellationToken).ConfigureAwait(false);
            data["probe_ms"] = stopwatch.Elapsed.TotalMilliseconds;

            var notes = new List<string>();
            if (ping > provider.Options.SlowPing)
            {
                notes.Add($"PING took {ping.TotalMilliseconds:F1} ms (slow above {provider.Options.SlowPing.TotalMilliseconds} ms)");
            }
            if (max > 0 && free < max / 10)
            {
                notes.Add($"less than 10% of maxmemory left ({memory})");
            }
            if (provider.QueuedBytes > provider.Options.MaxQueuedBytes / 2)
            {
                notes.Add($"{provider.QueuedBytes} bytes waiting to be written");
            }
            var summary = string.Create(CultureInfo.InvariantCulture, $"Redis at {provider.Location}: connected, PING {ping.TotalMilliseconds:F2} ms, {memory}, write probe ok");
            return notes.Count == 0
                ? new HealthCheckResult(HealthStatus.Healthy, summary, data: data)
                : new HealthCheckResult(HealthStatus.Degraded, $"{summary}; {string.Join("; ", notes)}", data: data);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return new HealthCheckResult(failure, $"Redis at {provider.Location}: {ex.Message}", data: data);
        }
    }

    /// <summary>used_memory, maxmemory and total_system_memory from <c>INFO memory</c> (0 when absent).</summary>
    internal static (long Used, long Max, long System) ParseMemory(string? info)
    {
        long used = 0, max = 0, system = 0;
        foreach (var line in (info ?? "").Split('\n'))
        {
            var parts = line.Trim().Split(':', 2);
            if (parts.Length != 2 || !long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }
            switch (parts[0])
            {
                case "used_memory": used = value; break;
                case "maxmemory": max = value; break;
                case "total_system_memory": system = value; break;
            }
        }
        return (used, max, system);
    }
}

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
            return new HealthCheckResult(failure, await WhyNotConnectedAsync(ex.Message).ConfigureAwait(false), data: data);
        }
        try
        {
            var ping = await db.PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            data["ping_ms"] = ping.TotalMilliseconds;
            var (used, max, system) = await provider.MemoryAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            var limit = max > 0 ? max : system;
            var free = limit > 0 ? Math.Max(0, limit - used) : long.MaxValue;
            data[StorageHealth.FreeBytesKey] = free;
            data["used_memory"] = used;
            data["maxmemory"] = max;
            var memory = max > 0 ? $"{used} of maxmemory {max} bytes used" : $"{used} bytes used, no maxmemory";
            if (max > 0 && free < RedisStorageProvider.MaxEntryBytes)
            {
                // Less than one full stream entry left: the next burst of output would be refused with OOM.
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
        catch (Exception ex) when (ex is RedisException or TimeoutException or IOException)
        {
            return new HealthCheckResult(failure, $"Redis at {provider.Location}: {ex.Message}", data: data);
        }
    }

    /// <summary>
    /// The client's own account of the failure (e.g. an authentication failure) comes with a command sent while
    /// disconnected; connection events raised before the provider subscribed are not seen otherwise.
    /// </summary>
    private async Task<string> WhyNotConnectedAsync(string reason)
    {
        if (provider.Multiplexer is not { } mux || provider.LastConnectionFailure is not null)
        {
            return reason;
        }
        try
        {
            await mux.GetDatabase().PingAsync().ConfigureAwait(false);
            return reason;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return $"{reason}: {ex.Message}";
        }
    }
}

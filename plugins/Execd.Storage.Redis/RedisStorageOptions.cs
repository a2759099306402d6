using Microsoft.Extensions.Configuration;

namespace Execd.Storage.Redis;

/// <summary>Options of the Redis provider (configuration section <c>Storage:Redis</c>).</summary>
internal sealed class RedisStorageOptions
{
    internal const string Section = "Storage:Redis";

    /// <summary>A StackExchange.Redis connection string (endpoints, <c>password=</c>, <c>ssl=true</c>, ...). Unset: no provider.</summary>
    public string? Configuration { get; set; }

    /// <summary>
    /// A PEM file holding the certificate authority that signed the server's TLS certificate (with <c>ssl=true</c>), for
    /// Redis behind a private CA; unset: the system's trust store decides.
    /// </summary>
    public string? TrustIssuer { get; set; }

    /// <summary>First part of every key.</summary>
    public string KeyPrefix { get; set; } = "execd";

    /// <summary>The sandbox part of every key; default <c>OPENSANDBOX_ID</c>, else the host name.</summary>
    public string? SandboxId { get; set; }

    /// <summary>Every key of a command expires this long after its last write (the fleet copy's retention).</summary>
    public TimeSpan KeyTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Where each sink keeps its local copy (reads, and the copy taken over by the next provider when Redis fails).
    /// Default: <c>Execd:LogDir</c>/redis-spool, else <c>$TMPDIR</c> (or /tmp)/execd/redis-spool.
    /// </summary>
    public string? SpoolDirectory { get; set; }

    /// <summary>Bytes accepted but not yet acknowledged by Redis, over all sinks; beyond it appends fail (Redis is too slow).</summary>
    public long MaxQueuedBytes { get; set; } = 64L << 20;

    /// <summary>How long completing a sink waits for Redis to acknowledge its queued bytes.</summary>
    public TimeSpan FlushTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A PING slower than this makes the provider Degraded.</summary>
    public TimeSpan SlowPing { get; set; } = TimeSpan.FromMilliseconds(100);

    public static RedisStorageOptions Bind(IConfiguration configuration, Func<string, string?> env)
    {
        var options = new RedisStorageOptions();
        configuration.GetSection(Section).Bind(options);
        options.SandboxId = options.SandboxId is { Length: > 0 } id ? id
            : env("OPENSANDBOX_ID") is { Length: > 0 } fromEnv ? fromEnv.Trim() : Environment.MachineName;
        if (string.IsNullOrEmpty(options.SpoolDirectory))
        {
            var tmp = env("TMPDIR") is { Length: > 0 } t ? t : "/tmp";
            options.SpoolDirectory = configuration["Execd:LogDir"] is { Length: > 0 } logDir
                ? Path.Combine(logDir, "redis-spool")
                : Path.Combine(tmp, "execd", "redis-spool");
        }
        if (options.KeyTtl <= TimeSpan.Zero || options.MaxQueuedBytes <= 0 || options.FlushTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(configuration), "Storage:Redis: KeyTtl, MaxQueuedBytes and FlushTimeout must be positive");
        }
        if (options.TrustIssuer is { Length: > 0 } ca && !File.Exists(ca))
        {
            throw new FileNotFoundException($"Storage:Redis:TrustIssuer: no certificate file at {ca}", ca);
        }
        if (string.IsNullOrWhiteSpace(options.KeyPrefix))
        {
            throw new ArgumentOutOfRangeException(nameof(configuration), "Storage:Redis:KeyPrefix must not be empty");
        }
        return options;
    }
}

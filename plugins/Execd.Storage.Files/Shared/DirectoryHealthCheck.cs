using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Execd.Storage;

/// <summary>
/// Health of a directory provider, and its self-healing: re-creates a missing directory with the configured
/// mode, probes a file (create, write, fsync, read back, delete), and compares free space and inodes with
/// the thresholds. Never throws: a failure is the registration's failure status with the reason.
/// </summary>
internal sealed class DirectoryHealthCheck(DirectoryStorageProvider provider, Func<string, string?>? precondition = null) : IHealthCheck
{
    private static readonly byte[] ProbeBytes = "execd storage probe\n"u8.ToArray();
    private volatile bool _hadDirectory;

    // Sticky world-writable directories that a self-heal may have to re-create as the parent of ours.
    private static readonly string[] SharedTempRoots = ["/tmp", "/var/tmp"];

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        var directory = provider.Location;
        var data = new Dictionary<string, object>();
        try
        {
            if (precondition?.Invoke(directory) is { } refused)
            {
                return Task.FromResult(new HealthCheckResult(failure, refused, data: data));
            }
            var notes = new List<string>();
            var status = HealthStatus.Healthy;
            if (!Directory.Exists(directory))
            {
                // A check the daemon gave up on (its timeout, or the daemon stopping) re-creates nothing.
                cancellationToken.ThrowIfCancellationRequested();
                Heal(directory);
                if (_hadDirectory)
                {
                    notes.Add($"{directory} was missing; re-created with mode {provider.Options.DirectoryMode}");
                    // A directory that disappears is suspect until it survives one more evaluation.
                    status = HealthStatus.Degraded;
                }
                else
                {
                    notes.Add($"created {directory} with mode {provider.Options.DirectoryMode}");
                }
            }
            _hadDirectory = true;
            var vfs = Native.Vfs(directory);
            var free = checked((long)(vfs.Bavail * vfs.Frsize));
            if ((vfs.Flag & Native.ReadOnlyFlag) != 0)
            {
                data[StorageHealth.FreeBytesKey] = 0L;
                return Task.FromResult(new HealthCheckResult(failure, $"{directory} is on a read-only file system", data: data));
            }
            if (provider.BudgetBytes > 0)
            {
                var left = provider.BudgetBytes - provider.BytesHeld;
                free = Math.Min(free, Math.Max(0, left));
                if (left <= 0)
                {
                    data[StorageHealth.FreeBytesKey] = 0L;
                    return Task.FromResult(new HealthCheckResult(failure, $"budget of {provider.BudgetBytes} bytes is used up", data: data));
                }
                if (left < provider.BudgetBytes / 10)
                {
                    status = Worse(status, HealthStatus.Degraded);
                    notes.Add($"only {left} of {provider.BudgetBytes} budget bytes left");
                }
            }
            data[StorageHealth.FreeBytesKey] = free;
            cancellationToken.ThrowIfCancellationRequested();
            Probe(directory);
            if (free < provider.Options.MinFreeBytes)
            {
                status = Worse(status, HealthStatus.Degraded);
                notes.Add($"{free} bytes free, below the threshold of {provider.Options.MinFreeBytes}");
            }
            if (vfs.Files > 0 && (long)vfs.Favail < provider.Options.MinFreeInodes)
            {
                status = Worse(status, HealthStatus.Degraded);
                notes.Add($"{vfs.Favail} inodes free, below the threshold of {provider.Options.MinFreeInodes}");
            }
            if (notes.Count == 0)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"writable, probe ok, {free} bytes free"));
            }
            return Task.FromResult(new HealthCheckResult(status, string.Join("; ", notes), data: data));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return Task.FromResult(new HealthCheckResult(failure, $"{directory}: {ex.Message}", ex, data));
        }
    }

    private static HealthStatus Worse(HealthStatus a, HealthStatus b) => a < b ? a : b;

    private void Heal(string directory)
    {
        foreach (var root in SharedTempRoots)
        {
            if (directory.StartsWith(root + "/", StringComparison.Ordinal) && !Directory.Exists(root))
            {
                Directory.CreateDirectory(root);
                File.SetUnixFileMode(root, (UnixFileMode)Convert.ToInt32("1777", 8));
            }
        }
        Directory.CreateDirectory(directory);
        // Explicitly, so the umask does not decide the mode.
        File.SetUnixFileMode(directory, provider.Options.Mode);
    }

    private static void Probe(string directory)
    {
        var path = Path.Combine(directory, $".probe-{Guid.NewGuid():N}");
        var created = false;
        try
        {
            using (var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                BufferSize = 0,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                created = true;
                stream.Write(ProbeBytes);
                stream.Flush(flushToDisk: true);
                Span<byte> back = stackalloc byte[ProbeBytes.Length];
                var n = RandomAccess.Read(stream.SafeFileHandle, back, 0);
                if (n != ProbeBytes.Length || !back.SequenceEqual(ProbeBytes))
                {
                    throw new IOException($"probe file {path} read back {n} bytes that differ from what was written");
                }
            }
        }
        finally
        {
            if (created)
            {
                File.Delete(path);
            }
        }
    }
}

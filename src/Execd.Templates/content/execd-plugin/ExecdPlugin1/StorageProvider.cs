using Execd;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace ExecdPlugin1;

/// <summary>
/// Registers the provider and its health check. The daemon calls this once at start-up with its whole
/// configuration: <c>--config ExecdPlugin1:Directory=/some/dir</c> (default: <c>.execdplugin1</c> in the daemon's
/// working directory). Where the provider ranks is the daemon's configuration: <c>Storage:Priorities:execdplugin1</c>
/// (default 500: after files and tmpfs, before memory).
/// </summary>
internal sealed class StoragePlugin : IExecdPlugin
{
    public const string Section = "ExecdPlugin1";

    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var directory = configuration[$"{Section}:Directory"] is { Length: > 0 } configured ? configured : ".execdplugin1";
        var provider = new DirectoryStorageProvider(Path.GetFullPath(directory));
        services.AddSingleton(provider);
        services.AddSingleton<IOutputStorageProvider>(provider);
        // Named like the provider and tagged "storage": the daemon ranks the provider by this check.
        services.AddHealthChecks().AddCheck<DirectoryHealthCheck>(provider.Name, HealthStatus.Unhealthy, [StorageHealth.Tag]);
    }
}

/// <summary>
/// Stores each command's output as one file in a directory. Every member throws when it cannot do its job (the
/// daemon then moves the output to the next provider): a deleted file or directory is never written silently.
/// </summary>
[RegisteredByPlugin] // registered by StoragePlugin with its directory, not by the daemon's scan
internal sealed class DirectoryStorageProvider(string directory) : IOutputStorageProvider
{
    private long _held;
    private int _sinks;
    private long _sequence;

    public string Name => $"execdplugin1:{directory}";
    public string Kind => "execdplugin1";
    public string Location => directory;
    public long BytesHeld => Interlocked.Read(ref _held);
    public int SinksHeld => Volatile.Read(ref _sinks);

    public IOutputSink Open(string commandId)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{commandId}.{Interlocked.Increment(ref _sequence)}.out");
        var sink = new Sink(this, path);
        Interlocked.Increment(ref _sinks);
        return sink;
    }

    /// <summary>Creates, writes, reads back and deletes a probe file; the description says what failed.</summary>
    internal string? Probe()
    {
        try
        {
            Directory.CreateDirectory(directory);
            var probe = Path.Combine(directory, $".probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "probe");
            var back = File.ReadAllText(probe);
            File.Delete(probe);
            return back == "probe" ? null : $"probe in {directory} read back wrong data";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"cannot store in {directory}: {ex.Message}";
        }
    }

    private sealed class Sink(DirectoryStorageProvider provider, string path) : IOutputSink
    {
        private readonly FileStream _file = new(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        private bool _deleted;

        public IOutputStorageProvider Provider => provider;
        public long Length { get; private set; }

        public void Append(ReadOnlySpan<byte> data)
        {
            // An open file stays writable after it was unlinked: check, so that the daemon moves the output.
            if (!File.Exists(path))
            {
                throw new IOException($"{path} was deleted");
            }
            RandomAccess.Write(_file.SafeFileHandle, data, Length);
            Length += data.Length;
            Interlocked.Add(ref provider._held, data.Length);
        }

        public int Read(long offset, Span<byte> buffer) =>
            offset >= Length ? 0 : RandomAccess.Read(_file.SafeFileHandle, buffer[..(int)Math.Min(buffer.Length, Length - offset)], offset);

        public void Complete() => _file.Flush(flushToDisk: true);

        public void Delete()
        {
            if (_deleted)
            {
                return;
            }
            _deleted = true;
            _file.Dispose();
            File.Delete(path);
            Interlocked.Add(ref provider._held, -Length);
            Interlocked.Decrement(ref provider._sinks);
        }

        public void Dispose() => _file.Dispose();
    }
}

/// <summary>Healthy while a probe file can be written, with the free bytes; else the registration's failure status and why.</summary>
internal sealed class DirectoryHealthCheck(DirectoryStorageProvider provider, ILogger<DirectoryHealthCheck> logger) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (provider.Probe() is { } problem)
        {
            logger.LogWarning("{Provider}: {Problem}", provider.Name, problem);
            return Task.FromResult(new HealthCheckResult(context.Registration?.FailureStatus ?? HealthStatus.Unhealthy, problem));
        }
        var free = new DriveInfo(provider.Location).AvailableFreeSpace;
        var data = new Dictionary<string, object> { [StorageHealth.FreeBytesKey] = free };
        return Task.FromResult(HealthCheckResult.Healthy($"{provider.Location} is writable, {free} bytes free", data));
    }
}

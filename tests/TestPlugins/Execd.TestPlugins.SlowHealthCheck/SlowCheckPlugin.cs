using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Execd.TestPlugins.SlowHealthCheck;

/// <summary>
/// Configuration <c>SlowHealthCheck:Directory</c>: its check waits (polling, at most a minute) until a file
/// <c>release</c> appears there, then writes <c>checked</c> beside it and reports Healthy. With
/// <c>SlowHealthCheck:RecordStore=true</c> the provider is also an (empty) command record store, so start-up re-indexing
/// waits for that check.
/// </summary>
internal sealed class SlowCheckPlugin : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var directory = configuration["SlowHealthCheck:Directory"] ?? throw new InvalidOperationException("SlowHealthCheck:Directory is not set");
        var provider = string.Equals(configuration["SlowHealthCheck:RecordStore"], "true", StringComparison.OrdinalIgnoreCase)
            ? new SlowRecordStore()
            : new SlowProvider();
        services.AddSingleton<IOutputStorageProvider>(provider);
        services.AddHealthChecks().AddCheck(provider.Name, new BlockingCheck(directory), HealthStatus.Unhealthy, [StorageHealth.Tag]);
    }
}

/// <summary>Stores nothing (it is never ranked first while the check blocks); what matters is its check.</summary>
[RegisteredByPlugin]
internal class SlowProvider : IOutputStorageProvider
{
    public string Name => "slow";
    public string Kind => "slow";
    public string Location => "nowhere";
    public long BytesHeld => 0;
    public int SinksHeld => 0;

    public IOutputSink Open(string commandId) => throw new IOException("slow stores nothing");
}

/// <summary>A record store that holds no record and no sink.</summary>
[RegisteredByPlugin]
internal sealed class SlowRecordStore : SlowProvider, ICommandRecordStore
{
    public void WriteRecord(string commandId, ReadOnlySpan<byte> record, bool durable) => throw new IOException("slow stores nothing");
    public IEnumerable<StoredCommandRecord> ReadRecords() => [];
    public void DeleteRecord(string commandId) { }
    public IOutputSink OpenExisting(string key) => throw new IOException("slow stores nothing");
    public IEnumerable<string> StoredKeys() => [];
    public void DeleteKey(string key) { }
}

internal sealed class BlockingCheck(string directory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!File.Exists(Path.Combine(directory, "release")) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, cancellationToken);
        }
        await File.WriteAllTextAsync(Path.Combine(directory, "checked"), "", cancellationToken);
        return HealthCheckResult.Healthy("released");
    }
}

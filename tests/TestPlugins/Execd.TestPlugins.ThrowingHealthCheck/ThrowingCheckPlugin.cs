using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Execd.TestPlugins.ThrowingHealthCheck;

internal sealed class ThrowingCheckPlugin : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var provider = new UncheckableProvider();
        services.AddSingleton<IOutputStorageProvider>(provider);
        services.AddHealthChecks().AddCheck(provider.Name, new ThrowingCheck(), HealthStatus.Unhealthy, [StorageHealth.Tag]);
    }
}

/// <summary>Would store nothing anyway; what matters is that its check throws.</summary>
[RegisteredByPlugin]
internal sealed class UncheckableProvider : IOutputStorageProvider
{
    public string Name => "uncheckable";
    public string Kind => "uncheckable";
    public string Location => "nowhere";
    public long BytesHeld => 0;
    public int SinksHeld => 0;

    public IOutputSink Open(string commandId) => throw new IOException("uncheckable stores nothing");
}

internal sealed class ThrowingCheck : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("health check exploded on purpose");
}

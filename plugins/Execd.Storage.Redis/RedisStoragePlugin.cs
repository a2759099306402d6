using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Storage.Redis;

/// <summary>
/// Registers the Redis provider and its health check when <c>Storage:Redis:Configuration</c> is set; without it the
/// plugin contributes nothing and says so (<see cref="PluginInactive"/>). Registration never waits for Redis: the daemon starts while Redis is down.
/// </summary>
internal sealed class RedisStoragePlugin : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = RedisStorageOptions.Bind(configuration, Environment.GetEnvironmentVariable);
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            // The usual case (a sandbox that keeps its output local): off, and the daemon stays healthy.
            services.AddSingleton(new PluginInactive($"{RedisStorageOptions.Section}:Configuration is not set"));
            return;
        }
        services.AddSingleton(sp => new RedisStorageProvider(options, sp.GetService<ILoggerFactory>()?.CreateLogger<RedisStorageProvider>() ?? NullLogger<RedisStorageProvider>.Instance));
        services.AddSingleton<IOutputStorageProvider>(sp => sp.GetRequiredService<RedisStorageProvider>());
        services.AddHealthChecks().Add(new HealthCheckRegistration(RedisStorageProvider.ProviderName,
            sp => new RedisHealthCheck(sp.GetRequiredService<RedisStorageProvider>()), HealthStatus.Unhealthy, [StorageHealth.Tag]));
    }
}

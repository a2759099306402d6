using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Storage;

public static class StorageServices
{
    /// <summary>
    /// Ranking, health checks (the host's <c>plugins</c> check; providers' checks come from their plugins), the
    /// background health monitor and retention. Options from the <c>Storage</c> section, validated now.
    /// </summary>
    public static IServiceCollection AddExecdStorage(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new StorageOptions();
        configuration.GetSection("Storage").Bind(options);
        options.Validate();
        services.AddSingleton(Options.Create(options));
        // The health check service logs every non-healthy result at each evaluation (every few seconds); the
        // ranking logs when the order changes, and /admin/storage and /healthz say why.
        services.AddLogging(b => b.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Critical));
        services.AddHealthChecks().AddCheck<PluginHealthCheck>(PluginHealthCheck.Name, tags: ["plugins"]);
        services.AddSingleton<StorageHealthMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<StorageHealthMonitor>());
        services.AddSingleton<CommandJournal>();
        services.AddSingleton<Commands.CaptureLocks>();
        // After the monitor: re-indexing reads the first real ranking; requests other than /ping wait for it (see Completion).
        services.AddSingleton<CommandReindexer>();
        services.AddHostedService(sp => sp.GetRequiredService<CommandReindexer>());
        services.AddHostedService<Commands.IdleMemoryTrimmer>();
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        return services;
    }
}

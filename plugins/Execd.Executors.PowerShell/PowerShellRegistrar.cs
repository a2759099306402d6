using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Execd.Executors.PowerShell;

/// <summary>
/// Registers the runspace pool as a container-owned singleton: the container disposes it when the
/// daemon stops. A pool that ran a pipeline otherwise keeps the process alive after SIGTERM.
/// </summary>
internal sealed class PowerShellRegistrar : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = new PowerShellPoolOptions();
        configuration.GetSection("PowerShell").Bind(options);
        services.AddSingleton(options);
        services.AddSingleton<PowerShellPool>();
    }
}

/// <summary>Configuration section <c>PowerShell</c> (<c>--config PowerShell:MaxRunspaces=16</c>).</summary>
internal sealed class PowerShellPoolOptions
{
    /// <summary>How many scripts run at once; more wait for a free runspace.</summary>
    public int MaxRunspaces { get; set; } = 16;
}

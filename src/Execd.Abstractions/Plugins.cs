using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Execd;

/// <summary>
/// Optional registrar of a plugin. The host calls <see cref="Register"/> once at start-up with a
/// service collection of the plugin's own; every contract service it adds (<see cref="ICommandExecutor"/>,
/// <see cref="IOutputStorageProvider"/>) is counted as the plugin's contribution. Use it to bind
/// options and to add services that need configuration (for example one provider per directory);
/// plain contract classes are found without it, by scanning.
/// </summary>
public interface IExecdPlugin
{
    /// <summary>Adds the plugin's services. <paramref name="configuration"/> is the daemon's whole configuration.</summary>
    void Register(IServiceCollection services, IConfiguration configuration);
}

/// <summary>
/// What an <see cref="IExecdPlugin"/> registers, as an instance (<c>services.AddSingleton(new PluginInactive("…"))</c>),
/// when it contributes nothing on purpose because it is off until configured, for example a Redis provider without a
/// connection string. The host then lists the plugin as loaded with this reason, and the daemon stays healthy, instead of
/// reporting the plugin failed for contributing nothing.
/// </summary>
/// <param name="Reason">Why the plugin contributes nothing, naming the setting that turns it on.</param>
public sealed record PluginInactive(string Reason);

/// <summary>
/// Keeps a contract class out of the host's assembly scan: the plugin's <see cref="IExecdPlugin"/>
/// registers it itself (typically because its constructor takes per-instance values).
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class RegisteredByPluginAttribute : Attribute;

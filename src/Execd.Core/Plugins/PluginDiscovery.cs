namespace Execd.Core.Plugins;

/// <summary>
/// Plugin start-up begun early (<see cref="PluginHost.Discover"/>): the plugins in <see cref="Directory"/>, checked from
/// their metadata, and loaded and scanned where that needs no configuration. The host's
/// <see cref="PluginHost.AddExecdPlugins"/> takes its share of what is left, then runs the registrars with the configuration.
/// </summary>
public sealed class PluginDiscovery
{
    internal PluginDiscovery(string directory, Task<PluginHost.Inspection> found)
    {
        Directory = directory;
        Found = found;
    }

    /// <summary>The plugins folder it looked in (used only when the host's configuration names the same folder).</summary>
    public string Directory { get; }

    /// <summary>Completes once the plugins are found (their inspection goes on).</summary>
    internal Task<PluginHost.Inspection> Found { get; }
}

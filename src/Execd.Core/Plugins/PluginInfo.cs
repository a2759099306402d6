namespace Execd.Core.Plugins;

public enum PluginState { Loaded, Failed }

/// <summary>One plugin folder and what became of it. Mutable only by the host while it starts.</summary>
public sealed class PluginInfo(string name, string path)
{
    private readonly List<string> _contributions = [];

    public string Name { get; } = name;
    public string Path { get; } = path;
    public string? Version { get; internal set; }

    /// <summary>The plugin contract (Execd.Abstractions) version the plugin was built against, MAJOR.MINOR, once read.</summary>
    public string? ContractVersion { get; internal set; }
    public PluginState State { get; private set; } = PluginState.Loaded;
    public string? Reason { get; private set; }
    public IReadOnlyList<string> Contributions => _contributions;

    internal void AddContribution(string description) => _contributions.Add(description);

    /// <summary>Marks the plugin failed; the first reason is kept, later ones are appended.</summary>
    public void MarkFailed(string reason)
    {
        Reason = State == PluginState.Failed && Reason is not null ? $"{Reason}; {reason}" : reason;
        State = PluginState.Failed;
    }
}

/// <summary>
/// A contract service a plugin contributed, with a factory; the registries create each one on its own
/// so that one plugin's broken constructor marks that plugin failed instead of breaking the others.
/// </summary>
public sealed record PluginContribution(PluginInfo Plugin, Type Contract, Func<IServiceProvider, object> Create, string Description);

/// <summary>Every plugin folder the host saw, in load order.</summary>
public sealed class PluginCatalog(IReadOnlyList<PluginInfo> plugins, string directory)
{
    public string Directory { get; } = directory;
    public IReadOnlyList<PluginInfo> Plugins { get; } = plugins;
}

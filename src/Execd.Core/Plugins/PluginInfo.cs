namespace Execd.Core.Plugins;

/// <summary>
/// <see cref="Loaded"/>: found, checked from its metadata and registered, none of its code run yet (a plugin that
/// declares on-demand executors stays here until its first command); <see cref="Activated"/>: its assembly is
/// loaded and its contributions registered; <see cref="Failed"/>: with <see cref="PluginInfo.Reason"/>.
/// </summary>
public enum PluginState { Loaded, Activated, Failed }

/// <summary>One plugin folder and what became of it. Mutable only by the host (at start-up and at activation).</summary>
public sealed class PluginInfo(string name, string path)
{
    private readonly List<string> _contributions = [];
    private readonly Lock _gate = new();

    public string Name { get; } = name;
    public string Path { get; } = path;
    public string? Version { get; internal set; }

    /// <summary>The plugin contract (Execd.Abstractions) version the plugin was built against, MAJOR.MINOR, once read.</summary>
    public string? ContractVersion { get; internal set; }
    public PluginState State { get; private set; } = PluginState.Loaded;
    public string? Reason { get; private set; }

    /// <summary>How long the host spent on this plugin at start-up (metadata, and loading and registering unless on demand).</summary>
    public double StartupMilliseconds { get; internal set; }

    /// <summary>True for a plugin activated on its first use rather than at start-up.</summary>
    public bool OnDemand { get; internal set; }
    public IReadOnlyList<string> Contributions
    {
        get
        {
            lock (_gate)
            {
                return [.. _contributions];
            }
        }
    }

    internal void AddContribution(string description)
    {
        lock (_gate)
        {
            _contributions.Add(description);
        }
    }

    internal void ReplaceContributions(IEnumerable<string> descriptions)
    {
        lock (_gate)
        {
            _contributions.Clear();
            _contributions.AddRange(descriptions);
        }
    }

    /// <summary>Marks the plugin's code loaded and registered, unless it already failed.</summary>
    internal void MarkActivated()
    {
        lock (_gate)
        {
            if (State == PluginState.Loaded)
            {
                State = PluginState.Activated;
            }
        }
    }

    /// <summary>A loaded plugin that contributes nothing on purpose (<see cref="PluginInactive"/>): says why, stays Loaded.</summary>
    internal void MarkInactive(string reason) => Reason = $"inactive: {reason}";

    /// <summary>Marks the plugin failed; the first reason is kept, later ones are appended.</summary>
    public void MarkFailed(string reason)
    {
        lock (_gate)
        {
            Reason = State == PluginState.Failed && Reason is not null ? $"{Reason}; {reason}" : reason;
            State = PluginState.Failed;
        }
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

using Microsoft.Extensions.Logging;

namespace Execd.Core.Plugins;

/// <summary>
/// Creates every contribution of one contract, each in its own guard: a contribution that throws on
/// creation marks its plugin failed and is left out; the others are kept.
/// </summary>
public static class ContributionRegistry
{
    public static IReadOnlyList<(T Instance, PluginInfo Plugin)> Create<T>(IEnumerable<PluginContribution> contributions, IServiceProvider services, ILogger logger)
        where T : class
    {
        var created = new List<(T, PluginInfo)>();
        foreach (var c in contributions.Where(c => c.Contract == typeof(T)))
        {
            try
            {
                created.Add(((T)c.Create(services), c.Plugin));
            }
            catch (Exception ex)
            {
                var reason = $"{c.Description} could not be created: {PluginHost.Describe(ex)}";
                c.Plugin.MarkFailed(reason);
                logger.LogError(ex, "Plugin {Plugin}: {Reason}", c.Plugin.Name, reason);
            }
        }
        return created;
    }

    /// <summary>
    /// The first contribution of <typeparamref name="T"/> that could be created (null when none); any later one is logged
    /// as not used. For contracts of which the host uses one (session, terminal executors).
    /// </summary>
    public static T? CreateFirst<T>(IEnumerable<PluginContribution> contributions, IServiceProvider services, ILogger logger, Func<T, string> name, string kind)
        where T : class
    {
        var created = Create<T>(contributions, services, logger);
        if (created.Count == 0)
        {
            return null;
        }
        var used = created[0].Instance;
        foreach (var (extra, plugin) in created.Skip(1))
        {
            logger.LogWarning("Plugin {Plugin}: {Kind} {Name} is not used; {Used} came first", plugin.Name, kind, name(extra), name(used));
        }
        return used;
    }
}

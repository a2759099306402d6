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
}

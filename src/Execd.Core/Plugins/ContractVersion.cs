using System.Reflection;

namespace Execd.Core.Plugins;

/// <summary>
/// The plugin contract's version (MAJOR.MINOR) and the host's rule: a plugin built against the host's major
/// version loads (an older or newer minor too: minors only add); any other major is refused. The major comes
/// from the plugin's reference to <c>Execd.Abstractions</c> (its assembly version is MAJOR.0.0.0, so it is what
/// the runtime binds); the minor from the <c>ExecdContractVersion</c> metadata the contract's build files stamp
/// into the plugin.
/// </summary>
public readonly record struct ContractVersion(int Major, int Minor)
{
    public const string MetadataKey = "ExecdContractVersion";

    /// <summary>The contract this host provides.</summary>
    public static ContractVersion Host { get; } = Of(typeof(ICommandExecutor).Assembly)
        ?? new ContractVersion(typeof(ICommandExecutor).Assembly.GetName().Version?.Major ?? 0, 0);

    /// <summary>The contract <paramref name="assembly"/> says it is or was built against (its metadata), if it says.</summary>
    public static ContractVersion? Of(Assembly assembly)
    {
        // A loop over the attributes themselves: read once at start-up, where LINQ over this value type and
        // CustomAttributeData cost JIT-compiled generic code.
        foreach (var attribute in assembly.GetCustomAttributes<AssemblyMetadataAttribute>())
        {
            if (attribute.Key == MetadataKey && Parse(attribute.Value) is { } version)
            {
                return version;
            }
        }
        return null;
    }

    /// <summary>
    /// What <paramref name="plugin"/> was built against: the major of its <c>Execd.Abstractions</c> reference, with
    /// the minor of its metadata when that names the same major. Null when it does not reference the contract.
    /// </summary>
    public static ContractVersion? BuiltAgainst(PluginMetadata plugin)
    {
        var contractName = typeof(ICommandExecutor).Assembly.GetName().Name;
        var reference = plugin.References.FirstOrDefault(r => r.Name == contractName);
        if (reference?.Version is not { } referenced)
        {
            return null;
        }
        var stamped = Parse(plugin.Value(MetadataKey));
        return stamped is { } s && s.Major == referenced.Major ? s : new ContractVersion(referenced.Major, referenced.Minor);
    }

    /// <summary>Why a plugin built against <paramref name="plugin"/> cannot load in a host providing <paramref name="host"/>, or null when it can.</summary>
    public static string? Incompatibility(ContractVersion plugin, ContractVersion host) =>
        plugin.Major == host.Major
            ? null
            : $"built against plugin contract (Execd.Abstractions) {plugin}, but this daemon provides {host}: major versions differ; rebuild the plugin against Execd.Abstractions {host.Major}.x";

    public static ContractVersion? Parse(string? text)
    {
        var parts = (text ?? "").Split('.');
        return parts.Length >= 2 && int.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var major)
            && int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var minor)
            ? new ContractVersion(major, minor)
            : null;
    }

    public override string ToString() => $"{Major}.{Minor}";
}

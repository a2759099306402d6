using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Execd.Core.Storage;

/// <summary>
/// The host's ranking priority of each storage provider (lower first among providers of equal health). It is
/// host configuration, not part of the plugin contract: <c>Storage:Priorities:&lt;provider name&gt;</c>, else
/// <c>Storage:Priorities:&lt;kind&gt;</c>, else the kind's default (files, then tmpfs, then any other kind, then
/// memory, the last resort). Providers of equal priority keep the order their plugins contributed them, so a
/// plugin's own order (the files chain) holds.
/// </summary>
public static class StoragePriorities
{
    public const string Section = "Storage:Priorities";

    private static readonly Dictionary<string, int> KindDefaults = new(StringComparer.OrdinalIgnoreCase)
    {
        ["files"] = 100,
        ["tmpfs"] = 200,
        ["memory"] = 1000,
    };

    /// <summary>The default of a kind that has none of its own (a third-party provider): after tmpfs, before memory.</summary>
    public const int OtherKindDefault = 500;

    /// <summary>
    /// The configured or default priority of <paramref name="provider"/>. A configured value that is not an integer
    /// is ignored (the next key or the default applies) and described in <paramref name="error"/>, naming the key.
    /// </summary>
    public static int Of(IOutputStorageProvider provider, IConfiguration? configuration, out string? error)
    {
        error = null;
        foreach (var key in new[] { provider.Name, provider.Kind })
        {
            var path = $"{Section}:{key}";
            if (configuration?[path] is { Length: > 0 } text)
            {
                if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
                {
                    return value;
                }
                error = $"{path} must be an integer, not '{text}'; ignored";
            }
        }
        return KindDefaults.GetValueOrDefault(provider.Kind, OtherKindDefault);
    }
}

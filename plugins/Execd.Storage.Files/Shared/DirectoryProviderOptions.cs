using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Execd.Storage;

/// <summary>Options shared by the directory-backed providers (sections <c>Storage:Files</c> and <c>Storage:Tmpfs</c>).</summary>
internal sealed class DirectoryProviderOptions
{
    /// <summary>
    /// Mode (octal) a missing directory is (re-)created with. 0711: others may pass through (a command run with a <c>uid</c> reaches its
    /// own exit and tail files in <c>capture/</c>) but not list it; every file the daemon makes in it is 0600.
    /// </summary>
    public string DirectoryMode { get; set; } = "0711";

    /// <summary>Below this many free bytes the provider is Degraded.</summary>
    public long MinFreeBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Below this many free inodes the provider is Degraded.</summary>
    public long MinFreeInodes { get; set; } = 1000;

    /// <summary>Bytes this provider's sinks may hold together; 0 for no budget.</summary>
    public long BudgetBytes { get; set; }

    /// <summary>
    /// Whether command output moves from its pipe into the sink's file with <c>splice(2)</c> (default), so a daemon killed at any instant
    /// has no byte in hand; false: read into the daemon and written, as before (kept for comparison in the benchmark).
    /// </summary>
    public bool Splice { get; set; } = true;

    /// <summary>How often a sink checks that its file is still linked in its directory (a deleted file moves the output).</summary>
    public TimeSpan DeletionCheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    public UnixFileMode Mode => (UnixFileMode)Convert.ToInt32(DirectoryMode, 8);

    public static DirectoryProviderOptions Bind(IConfiguration configuration, string section, long budget)
    {
        var options = new DirectoryProviderOptions { BudgetBytes = budget };
        configuration.GetSection(section).Bind(options);
        try
        {
            _ = options.Mode;
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{section}:DirectoryMode must be octal, e.g. 0700, not '{options.DirectoryMode}'");
        }
        if (options.MinFreeBytes < 0 || options.MinFreeInodes < 0 || options.BudgetBytes < 0)
        {
            throw new ArgumentException($"{section}: MinFreeBytes, MinFreeInodes and BudgetBytes must not be negative");
        }
        return options;
    }

    /// <summary>
    /// The configured directory list (<c>{section}:Directories</c>): either an array (<c>Directories:0</c>, …) or
    /// one value separated by <c>:</c> or <c>;</c>. Null when not configured; empty when configured empty.
    /// </summary>
    public static IReadOnlyList<string>? Directories(IConfiguration configuration, string section)
    {
        var list = configuration.GetSection(section + ":Directories");
        var children = list.GetChildren().OrderBy(c => int.TryParse(c.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue)
            .Select(c => c.Value).OfType<string>().ToList();
        if (children.Count > 0)
        {
            return children;
        }
        return list.Value is { } value ? value.Split([':', ';', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
    }

    /// <summary>Absolute, de-duplicated paths (relative ones are taken from the daemon's working directory).</summary>
    public static IReadOnlyList<string> Normalize(IEnumerable<string?> directories) =>
        directories.OfType<string>().Where(d => d.Length > 0)
            .Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d)))
            .Distinct(StringComparer.Ordinal).ToList();
}

/// <summary>Registers one directory provider and its health check per directory (shared by the files and tmpfs plugins).</summary>
internal static class DirectoryProviders
{
    public static void Register(IServiceCollection services, string kind, IReadOnlyList<string> directories, DirectoryProviderOptions options,
        Func<string, string?>? guard = null)
    {
        var checks = services.AddHealthChecks();
        foreach (var directory in directories)
        {
            var provider = new DirectoryStorageProvider(kind, directory, options, guard);
            services.AddSingleton<IOutputStorageProvider>(provider);
            checks.AddCheck(provider.Name, new DirectoryHealthCheck(provider, guard), HealthStatus.Unhealthy, [StorageHealth.Tag]);
        }
    }
}

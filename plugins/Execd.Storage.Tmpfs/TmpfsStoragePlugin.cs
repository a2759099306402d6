using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Execd.Storage.Tmpfs;

/// <summary>
/// Providers on memory filesystems: <c>/dev/shm/execd</c> and <c>$XDG_RUNTIME_DIR/execd</c> by default
/// (<c>Storage:Tmpfs:Directories</c> replaces the list). A directory is used only while it is verified to
/// be on tmpfs, and each provider has a byte budget (<c>Storage:Tmpfs:BudgetBytes</c>) so stored output
/// cannot eat the machine's memory.
/// </summary>
internal sealed class TmpfsStoragePlugin : IExecdPlugin
{
    internal const string Section = "Storage:Tmpfs";

    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = DirectoryProviderOptions.Bind(configuration, Section, budget: 64L * 1024 * 1024);
        if (options.BudgetBytes <= 0)
        {
            throw new ArgumentException($"{Section}:BudgetBytes must be positive");
        }
        DirectoryProviders.Register(services, "tmpfs", Candidates(configuration, Environment.GetEnvironmentVariable), options, NotTmpfs);
    }

    internal static IReadOnlyList<string> Candidates(IConfiguration configuration, Func<string, string?> env)
    {
        var configured = DirectoryProviderOptions.Directories(configuration, Section);
        if (configured is not null)
        {
            return DirectoryProviderOptions.Normalize(configured);
        }
        var runtime = env("XDG_RUNTIME_DIR") is { Length: > 0 } x ? Path.Combine(x, "execd") : null;
        return DirectoryProviderOptions.Normalize(["/dev/shm/execd", runtime]);
    }

    /// <summary>Why <paramref name="directory"/> must not be used (its filesystem, or its nearest existing ancestor's, is not tmpfs), or null.</summary>
    internal static string? NotTmpfs(string directory)
    {
        var existing = Native.NearestExisting(directory);
        var type = Native.FileSystemType(existing);
        return type is Native.TmpfsMagic or Native.RamfsMagic
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"{existing} is not on a tmpfs (filesystem type 0x{type:x})");
    }
}

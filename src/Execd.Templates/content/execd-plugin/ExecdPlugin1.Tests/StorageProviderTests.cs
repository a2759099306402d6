using Execd;
using Execd.Testing.Storage;

namespace ExecdPlugin1.Tests;

/// <summary>The conformance suite every execd storage provider passes, run against this plugin's provider.</summary>
public sealed class StorageProviderTests : StorageProviderConformance
{
    private string Store => Dir.Combine("store");

    protected override IExecdPlugin CreatePlugin() => new ExecdPlugin1Plugin();

    protected override Dictionary<string, string?> Settings() => new() { [$"{ExecdPlugin1Plugin.Section}:Directory"] = Store };

    // A regular file where the directory was: nothing can be stored there any more, not even by root.
    protected override void Break(IOutputStorageProvider provider)
    {
        Directory.Delete(Store, recursive: true);
        File.WriteAllText(Store, "not a directory");
    }
}

using Execd;
using Execd.Testing.Storage;

namespace ExecdPlugin1.Tests;

/// <summary>The conformance suite every execd storage provider passes, run against this plugin's provider.</summary>
public sealed class StorageProviderTests : StorageProviderConformance
{
    private string Store => Dir.Combine("store");

    protected override IExecdPlugin CreatePlugin() => new StoragePlugin();

    protected override Dictionary<string, string?> Settings() => new() { [$"{StoragePlugin.Section}:Directory"] = Store };

    // A regular file where the directory was: nothing can be stored there any more, not even by root.
    protected override void Break(IOutputStorageProvider provider)
    {
        if (Directory.Exists(Store))
        {
            Directory.Delete(Store, recursive: true);
        }
        File.WriteAllText(Store, "not a directory");
    }
}

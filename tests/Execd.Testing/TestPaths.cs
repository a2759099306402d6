using System.Reflection;

namespace Execd.Testing;

/// <summary>Where the build put things, and directories each test owns (never the machine's /tmp).</summary>
public static class TestPaths
{
    private static string Metadata(string key) =>
        typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value!;

    /// <summary>The repository root.</summary>
    public static string Root => Metadata("ExecdRoot");

    /// <summary>The daemon's built plugins folder.</summary>
    public static string PluginsDir => Metadata("ExecdPluginsDir");

    /// <summary>A fresh directory under the test output folder, removed by <see cref="TestDirectory.Dispose"/>.</summary>
    public static TestDirectory NewDirectory(string? name = null) => new(name);
}

public sealed class TestDirectory : IDisposable
{
    public TestDirectory(string? name)
    {
        Path = System.IO.Path.Combine(AppContext.BaseDirectory, "test-data", $"{name ?? "t"}-{Guid.NewGuid():N}"[..Math.Min(40, (name?.Length ?? 1) + 13)]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path))
            {
                foreach (var f in Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories))
                {
                    try { File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                }
                Directory.Delete(Path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left behind under bin/; harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

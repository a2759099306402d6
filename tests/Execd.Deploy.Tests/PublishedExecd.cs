using System.Runtime.InteropServices;
using System.Xml.Linq;

namespace Execd.Deploy.Tests;

/// <summary>
/// The daemon published once per test run for this machine's RID (the README's publish command), into a
/// folder under the test's bin directory. The publish has its own artifacts path, so it shares no bin/obj
/// folder with a development build of the same repository running at the same time.
/// </summary>
public sealed class PublishedExecd : IAsyncLifetime
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);

    // What the daemon, bootstrap.sh and the tests' shell commands need; nothing from the .NET install.
    private static readonly string[] RequiredTools = ["bash", "sh", "env", "setsid", "sleep", "cat", "mkdir", "chmod", "touch", "dirname", "rm", "curl"];
    private static readonly string[] OptionalTools = ["setpriv"];
    private static readonly string[] ToolDirs = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

    private static string Root => Path.Combine(AppContext.BaseDirectory, "deploy");

    public string Rid { get; } = MachineRid();

    public string Folder => Path.Combine(Root, "published", Rid);

    public string Executable => Path.Combine(Folder, "execd");

    /// <summary>A directory of symlinks to a few system tools: the whole PATH of a scrubbed environment.</summary>
    public string ToolsDir => Path.Combine(Root, "scrubbed-bin");

    public string PublishOutput { get; private set; } = "";

    /// <summary>The plugins the daemon's project references (ReferenceOutputAssembly=false), i.e. every shipped plugin.</summary>
    public IReadOnlyList<string> ExpectedPlugins { get; } = ShippedPlugins();

    public async Task InitializeAsync()
    {
        PrepareToolsDir();
        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);   // stale plugin folders from an earlier run would lie
        }
        var (exitCode, output) = await DotnetCli.RunAsync(TestPaths.Root,
        [
            "publish", Path.Combine(TestPaths.Root, "src", "Execd.Server", "Execd.Server.csproj"),
            "-c", "Release", "-r", Rid, "-o", Folder,
            "--artifacts-path", Path.Combine(Root, "build"),
            // Build servers would outlive the publish and hold its output pipes open.
            "--disable-build-servers", "-nologo", "-v:minimal",
        ], PublishTimeout);
        PublishOutput = output;
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"dotnet publish failed ({exitCode}):\n{PublishOutput}");
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;   // kept under bin/ for inspection; replaced by the next run

    /// <summary>An environment with nothing from the .NET install: no DOTNET_* variables, PATH = <see cref="ToolsDir"/>.</summary>
    public Dictionary<string, string> ScrubbedEnvironment(TestDirectory home) =>
        new()
        {
            ["PATH"] = ToolsDir,
            ["HOME"] = home.Path,
            // The runtime's diagnostics socket and any temp file go here, never to the machine's /tmp.
            ["TMPDIR"] = Directory.CreateDirectory(home.Combine("tmp")).FullName,
            // Output storage too: the default chain also names /var/tmp/execd and /dev/shm/execd.
            ["EXECD_Storage__Files__Directories"] = home.Combine("storage", "files"),
            ["EXECD_Storage__Tmpfs__Directories"] = home.Combine("storage", "tmpfs"),
        };

    /// <summary>Runs <c>command -v dotnet</c> in the scrubbed environment; its output ("" when dotnet is not found).</summary>
    public async Task<(int ExitCode, string Output)> FindDotnetAsync(TestDirectory home)
    {
        await using var shell = Launched.Start(Path.Combine(ToolsDir, "bash"), ["-c", "command -v dotnet"], ScrubbedEnvironment(home), home.Path);
        var code = await shell.WaitForExitAsync(TimeSpan.FromSeconds(10));
        return (code, shell.Output.Trim());
    }

    private void PrepareToolsDir()
    {
        if (Directory.Exists(ToolsDir))
        {
            Directory.Delete(ToolsDir, recursive: true);
        }
        Directory.CreateDirectory(ToolsDir);
        foreach (var tool in RequiredTools.Concat(OptionalTools))
        {
            var target = ToolDirs.Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
            if (target is null)
            {
                if (RequiredTools.Contains(tool))
                {
                    throw new InvalidOperationException($"the deployment tests need '{tool}' in one of {string.Join(", ", ToolDirs)}");
                }
                continue;
            }
            File.CreateSymbolicLink(Path.Combine(ToolsDir, tool), target);
        }
    }

    private static string MachineRid()
    {
        var arch = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.Arm64 => "arm64",
            var other => other.ToString().ToLowerInvariant(),
        };
        var musl = Directory.Exists("/lib") && Directory.EnumerateFiles("/lib", "ld-musl-*").Any();
        return musl ? $"linux-musl-{arch}" : $"linux-{arch}";
    }

    private static List<string> ShippedPlugins() =>
        XDocument.Load(Path.Combine(TestPaths.Root, "src", "Execd.Server", "Execd.Server.csproj"))
            .Descendants("ProjectReference")
            .Where(r => (string?)r.Attribute("ReferenceOutputAssembly") == "false")
            .Select(r => Path.GetFileNameWithoutExtension(((string)r.Attribute("Include")!).Replace('\\', '/')))
            .Order(StringComparer.Ordinal)
            .ToList();
}

[CollectionDefinition(Name)]
public sealed class PublishedCollection : ICollectionFixture<PublishedExecd>
{
    public const string Name = "published execd";
}

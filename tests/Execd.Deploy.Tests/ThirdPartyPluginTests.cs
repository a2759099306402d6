using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace Execd.Deploy.Tests;

/// <summary>
/// The issue's proof, as a third party would do it: the contract, the conformance suite and the template are packed
/// into a local feed this test owns; a plugin is created from the template in a folder of its own (its own
/// Directory.Build.props, Directory.Packages.props and NuGet.config: nothing of the repository's build applies),
/// its tests (the conformance suite) run against the packages, and it is built against the packages only and
/// dropped into a copy of the published daemon's plugins/ folder. A second plugin is built against a fake next major
/// version of the contract.
/// </summary>
[Collection(PublishedCollection.Name)]
public sealed class ThirdPartyPluginTests(PublishedExecd published)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TemplatePlugin_BuiltFromThePackagesOnly_LoadsRanksStoresAndFailsOver_AndANextMajorPluginIsFailed()
    {
        using var work = TestPaths.NewDirectory("3p");
        var feed = Directory.CreateDirectory(work.Combine("feed")).FullName;
        var dotnet = new ThirdPartyCli(work);

        // One pack of each package (and the contract once more as a fake next major), each with its own artifacts
        // path so the repository's bin/ and obj/ are never touched.
        foreach (var (project, extra) in new[]
        {
            ("Execd.Abstractions", Array.Empty<string>()),
            ("Execd.Testing.Storage", []),
            ("Execd.Templates", []),
            ("Execd.Abstractions", ["-p:ExecdContractVersion=2.0"]),
        })
        {
            var artifacts = work.Combine("pack", extra.Length == 0 ? "current" : "next-major");
            await dotnet.RunAsync(TestPaths.Root, ["pack", Path.Combine(TestPaths.Root, "src", project, project + ".csproj"), "-c", "Release", "-o", feed, "--artifacts-path", artifacts, .. extra]);
        }
        AssertContractPackage(Path.Combine(feed, "Execd.Abstractions.1.0.0.nupkg"));
        Assert.True(File.Exists(Path.Combine(feed, "Execd.Abstractions.1.0.0.snupkg")), "symbols package");
        Assert.True(File.Exists(Path.Combine(feed, "Execd.Testing.Storage.1.0.0.nupkg")));

        // The template, installed into a hive of this test's (never the user's template cache).
        var hive = work.Combine("template-hive");
        var source = Directory.CreateDirectory(work.Combine("third-party")).FullName;
        await File.WriteAllTextAsync(Path.Combine(source, "NuGet.config"), NuGetConfig(feed));
        await dotnet.RunAsync(source, ["new", "install", Path.Combine(feed, "Execd.Templates.1.0.0.nupkg"), "--debug:custom-hive", hive]);
        await dotnet.RunAsync(source, ["new", "execd-plugin", "-n", "Acme.Store", "--debug:custom-hive", hive]);
        await dotnet.RunAsync(source, ["new", "execd-plugin", "-n", "Acme.NextMajor", "--contract-version", "2.0.0", "--debug:custom-hive", hive]);

        // The plugin's own tests: the conformance suite from Execd.Testing.Storage against the template's provider.
        var tests = await dotnet.RunAsync(Path.Combine(source, "Acme.Store"), ["test", "-c", "Release"]);
        Assert.Matches(@"Passed!\s+-\s+Failed:\s+0,\s+Passed:\s+1\d,", tests);

        // A copy of the published daemon (hard links: cheap) whose plugins/ folder gets the two plugins.
        var daemonDir = work.Combine("execd");
        await RunToolAsync("cp", ["-al", published.Folder, daemonDir], work.Path);
        var plugins = Path.Combine(daemonDir, "plugins");
        await dotnet.RunAsync(source, ["build", Path.Combine("Acme.Store", "Acme.Store"), "-c", "Release", "--no-restore", "-o", Path.Combine(plugins, "Acme.Store")]);
        await dotnet.RunAsync(source, ["build", Path.Combine("Acme.NextMajor", "Acme.NextMajor"), "-c", "Release", "-o", Path.Combine(plugins, "Acme.NextMajor")]);
        Assert.True(File.Exists(Path.Combine(plugins, "Acme.Store", "Acme.Store.dll")));
        Assert.False(File.Exists(Path.Combine(plugins, "Acme.Store", "Execd.Abstractions.dll")), "the contract must be the daemon's, not a private copy");

        using var home = TestPaths.NewDirectory("3p-home");
        var store = home.Combine("acme-store");
        var providerName = $"acme.store:{store}";
        await using var daemon = Launched.Start(Path.Combine(daemonDir, "execd"),
            ["--port", "0", "--host", "127.0.0.1",
             "--config", $"Acme.Store:Directory={store}",
             "--config", "Storage:Priorities:acme.store=1",   // host configuration ranks it first
             "--config", "Storage:Health:Interval=00:00:01"],
            published.ScrubbedEnvironment(home), home.Path);
        var listening = await daemon.WaitForLineAsync(PublishedDaemonTests.ListeningLine(), StartTimeout);
        using var client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = TimeSpan.FromSeconds(30) };

        // Activated, with the contract version it was built against; the next-major one Failed naming both versions.
        var pluginList = JsonNode.Parse(await client.GetStringAsync("/admin/plugins"))!.AsArray();
        var acme = pluginList.Single(p => (string?)p!["name"] == "Acme.Store")!;
        Assert.True((string?)acme["status"] == "Activated", acme.ToJsonString());
        Assert.Equal("1.0", (string?)acme["contract_version"]);
        Assert.Contains("IOutputStorageProvider: DirectoryStorageProvider", acme["contributes"]!.AsArray().Select(c => (string?)c));
        var next = pluginList.Single(p => (string?)p!["name"] == "Acme.NextMajor")!;
        Assert.Equal("Failed", (string?)next["status"]);
        Assert.Contains("2.0", (string?)next["reason"]);
        Assert.Contains("provides 1.0", (string?)next["reason"]);
        Assert.All(pluginList.Where(p => ((string?)p!["name"])!.StartsWith("Execd.", StringComparison.Ordinal)),
            p => Assert.True((string?)p!["status"] == PublishedDaemonTests.ExpectedStatusAtStart((string)p!["name"]!), p!.ToJsonString()));
        Assert.Contains("Acme.NextMajor", await client.GetStringAsync("/healthz"));

        // Ranked first once its health check (created by the daemon's DI, with an ILogger<T>) has run.
        var first = await PollAsync(client, "/admin/storage", s => (string?)s["providers"]![0]!["name"] == providerName
            && (string?)s["providers"]![0]!["status"] == "Healthy");
        Assert.Equal(providerName, (string?)first["providers"]![0]!["name"]);

        // Holds a command's output.
        // bash builtins only: the scrubbed PATH has a handful of tools and no seq.
        var held = await PublishedDaemonTests.RunAsync(client, "for i in {1..100}; do echo $i; done");
        Assert.Equal(0, held.ExitCode);
        var heldStatus = JsonNode.Parse(await client.GetStringAsync($"/command/status/{held.Id}"))!;
        Assert.Equal(providerName, (string?)heldStatus["output_provider"]);
        var expected = string.Concat(Enumerable.Range(1, 100).Select(i => $"{i}\n"));
        Assert.Contains(Directory.GetFiles(store), f => File.ReadAllText(f) == expected);
        Assert.Equal(expected, await client.GetStringAsync($"/command/{held.Id}/logs?cursor=0"));

        // Breaks while a command prints (a file where its directory was): the output moves, nothing is lost.
        var started = await PublishedDaemonTests.RunAsync(client, "for i in {1..40}; do echo line-$i; sleep 0.05; done", new { background = true });
        var id = started.Id!;
        await PollAsync(client, $"/command/status/{id}", s => (long)s["output_bytes"]! > 0);
        Directory.Delete(store, recursive: true);
        await File.WriteAllTextAsync(store, "not a directory any more");
        var finished = await PollAsync(client, $"/command/status/{id}", s => !(bool)s["running"]!);
        Assert.True((bool)finished["output_moved"]!, finished.ToJsonString());
        Assert.Equal(providerName, (string?)finished["output_providers"]![0]);
        Assert.NotEqual(providerName, (string?)finished["output_provider"]);
        Assert.Equal(string.Concat(Enumerable.Range(1, 40).Select(i => $"line-{i}\n")), await client.GetStringAsync($"/command/{id}/logs?cursor=0"));
        var demoted = await PollAsync(client, "/admin/storage", s => s["providers"]!.AsArray().Any(p => (string?)p!["name"] == providerName && (string?)p["status"] == "Unhealthy"));
        var entry = demoted["providers"]!.AsArray().Single(p => (string?)p!["name"] == providerName)!;
        Assert.True((int)entry["rank"]! > 1);
        Assert.Contains(store, (string?)entry["reason"]);
    }

    /// <summary>The contract package: readme, license, repository commit, XML docs, the version build files, and no ASP.NET Core dependency.</summary>
    private static void AssertContractPackage(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("lib/net10.0/Execd.Abstractions.dll", entries);
        Assert.Contains("lib/net10.0/Execd.Abstractions.xml", entries);
        Assert.Contains("PACKAGE.md", entries);
        Assert.Contains("build/Execd.Abstractions.props", entries);
        Assert.Contains("build/Execd.Abstractions.targets", entries);
        using var nuspecStream = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
        var nuspec = XDocument.Load(nuspecStream);
        XNamespace ns = nuspec.Root!.Name.NamespaceName;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        Assert.Equal("1.0.0", (string?)metadata.Element(ns + "version"));
        Assert.Equal("PACKAGE.md", (string?)metadata.Element(ns + "readme"));
        Assert.NotNull(metadata.Element(ns + "license"));
        Assert.Matches("^[0-9a-f]{40}$", (string?)metadata.Element(ns + "repository")?.Attribute("commit") ?? "");
        var dependencies = metadata.Descendants(ns + "dependency").Select(d => (string)d.Attribute("id")!).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["Microsoft.Extensions.Configuration.Abstractions", "Microsoft.Extensions.DependencyInjection.Abstractions"], dependencies);
        Assert.Empty(metadata.Descendants(ns + "frameworkReference"));
    }

    private static string NuGetConfig(string feed)
    {
        // Packages this test restores go to its own folder (NUGET_PACKAGES, set by DotnetCli); the machine's global
        // folder is only read, as a fallback, so nothing restored here is left behind in it.
        var global = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="execd-local-feed" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="machine" value="{global}" />
              </fallbackPackageFolders>
            </configuration>
            """;
    }

    private static async Task<JsonNode> PollAsync(HttpClient client, string path, Func<JsonNode, bool> done)
    {
        var watch = Stopwatch.StartNew();
        JsonNode? last = null;
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            last = JsonNode.Parse(await client.GetStringAsync(path))!;
            if (done(last))
            {
                return last;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"{path} never reached the expected state; last: {last?.ToJsonString()}");
    }

    private static async Task RunToolAsync(string file, string[] args, string cwd)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StepTimeout);
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {await output}{await errors}");
    }

    /// <summary>
    /// The dotnet CLI as a third party runs it: build servers off (they would outlive the test), and a packages
    /// folder, temp directory and first-run settings of the test's own. Fails the test when the command fails.
    /// </summary>
    private sealed class ThirdPartyCli(TestDirectory work)
    {
        public async Task<string> RunAsync(string cwd, string[] args)
        {
            string[] all = args[0] is "pack" or "build" or "test" ? [.. args, "--disable-build-servers", "-nologo"] : args;
            var environment = new Dictionary<string, string>
            {
                ["NUGET_PACKAGES"] = Directory.CreateDirectory(work.Combine("packages")).FullName,
                ["TMPDIR"] = Directory.CreateDirectory(work.Combine("tmp")).FullName,
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
                ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            };
            var (exitCode, output) = await DotnetCli.RunAsync(cwd, all, StepTimeout, environment);
            Assert.True(exitCode == 0, $"dotnet {string.Join(' ', all)} failed ({exitCode}) in {cwd}:\n{output}");
            return output;
        }
    }
}

using System.Net;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json.Nodes;
using Execd.Core.Plugins;

namespace Execd.Core.Tests;

/// <summary>
/// Plugins activated on first use, and start-up that does not wait for health checks: a real daemon on loopback,
/// real plugin folders made for each test (copies of the built plugins).
/// </summary>
public sealed class OnDemandPluginTests
{
    private static string TestPluginsDir => typeof(OnDemandPluginTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "TestPluginsDir").Value!;

    /// <summary>A plugins folder with whole copies (subfolders too) of the named built plugins.</summary>
    private static TestDirectory PluginsFolder(params string[] names)
    {
        var dir = TestPaths.NewDirectory("plugins");
        foreach (var name in names)
        {
            var source = Directory.Exists(Path.Combine(TestPluginsDir, name)) ? Path.Combine(TestPluginsDir, name) : Path.Combine(TestPaths.PluginsDir, name);
            foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(dir.Combine(name), Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
        }
        return dir;
    }

    private static async Task<JsonNode> PluginAsync(Daemon daemon, string name) =>
        JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/plugins"))!.AsArray().Single(p => (string?)p!["name"] == name)!;

    /// <summary>Assemblies loaded, in any load context of this process, from files under <paramref name="folder"/>.</summary>
    private static List<string> LoadedFrom(string folder) =>
        [.. AssemblyLoadContext.All.SelectMany(c => c.Assemblies)
            .Where(a => !a.IsDynamic && a.Location.StartsWith(folder + "/", StringComparison.Ordinal))
            .Select(a => a.GetName().Name!)];

    [Fact]
    public void Metadata_PowerShellPluginDeclaresItsExecutor_ReadWithoutLoadingIt()
    {
        var dll = Path.Combine(TestPaths.PluginsDir, "Execd.Executors.PowerShell", "Execd.Executors.PowerShell.dll");

        var metadata = PluginMetadata.Read(dll);

        Assert.Equal(["pwsh"], metadata.OnDemandExecutors);
        Assert.Equal(ContractVersion.Host, ContractVersion.BuiltAgainst(metadata));
        Assert.Contains(metadata.References, r => r.Name == "System.Management.Automation");
        Assert.DoesNotContain(AssemblyLoadContext.All.SelectMany(c => c.Assemblies), a => !a.IsDynamic && a.Location == dll);
        Assert.Empty(PluginMetadata.Read(Path.Combine(TestPaths.PluginsDir, "Execd.Executors.Shell", "Execd.Executors.Shell.dll")).OnDemandExecutors);
    }

    [Fact]
    public async Task PowerShellPlugin_NotActivatedAtStart_ActivatedByTheFirstPwshCommand()
    {
        using var dir = PluginsFolder("Execd.Executors.Shell", "Execd.Storage.Memory", "Execd.Executors.PowerShell");
        var pwshFolder = dir.Combine("Execd.Executors.PowerShell");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:PluginsDir"] = dir.Path });

        var before = await PluginAsync(daemon, "Execd.Executors.PowerShell");
        Assert.Equal("Loaded", (string?)before["status"]);
        Assert.Equal(["ICommandExecutor: pwsh (activated on first use)"], before["contributes"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(ContractVersion.Host.ToString(), (string?)before["contract_version"]);
        Assert.Equal("Activated", (string?)(await PluginAsync(daemon, "Execd.Executors.Shell"))["status"]);
        Assert.Empty(LoadedFrom(pwshFolder));
        // A shell command does not activate it either.
        Assert.Equal(["plain"], (await daemon.RunAsync("echo plain")).Texts("stdout"));
        Assert.Empty(LoadedFrom(pwshFolder));

        var run = await daemon.RunAsync("Write-Output ('from ' + 'pwsh')", new { executor = "pwsh" });

        Assert.Equal(200, run.Status);
        Assert.Equal(["from pwsh"], run.Texts("stdout"));
        Assert.Equal(0, run.ExitCode);
        var after = await PluginAsync(daemon, "Execd.Executors.PowerShell");
        Assert.Equal("Activated", (string?)after["status"]);
        Assert.Equal(["ICommandExecutor: PowerShellExecutor"], after["contributes"]!.AsArray().Select(c => (string?)c));
        var loaded = LoadedFrom(pwshFolder);
        Assert.Contains("Execd.Executors.PowerShell", loaded);
        Assert.Contains("System.Management.Automation", loaded);
        // The second command reuses the activation.
        Assert.Equal(["2"], (await daemon.RunAsync("1 + 1", new { executor = "PWSH" })).Texts("stdout"));
    }

    [Fact]
    public async Task OnDemandPlugin_ThrowingOnActivation_IsFailedThenAndTheRequestGetsAJsonError()
    {
        using var dir = PluginsFolder("Execd.Executors.Shell", "Execd.Storage.Memory", "Execd.TestPlugins.OnDemandThrows");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:PluginsDir"] = dir.Path });
        Assert.Equal("Loaded", (string?)(await PluginAsync(daemon, "Execd.TestPlugins.OnDemandThrows"))["status"]);

        // Twice: the failure is remembered, not retried.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var response = await daemon.Client.PostAsync("/command",
                new StringContent("""{"command":"anything","executor":"boom"}""", Encoding.UTF8, "application/json"));

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal("EXECUTOR_UNAVAILABLE", (string?)error["code"]);
            Assert.Contains("activation exploded on purpose", (string?)error["message"]);
        }
        var plugin = await PluginAsync(daemon, "Execd.TestPlugins.OnDemandThrows");
        Assert.Equal("Failed", (string?)plugin["status"]);
        Assert.Contains("activation exploded on purpose", (string?)plugin["reason"]);
        // The daemon and the other plugins go on.
        Assert.Equal(["still here"], (await daemon.RunAsync("echo still here")).Texts("stdout"));
    }

    [Fact]
    public async Task Ping_AnswersBeforeASlowHealthCheckFinishes_CommandsWaitOnlyForTheFirstHealthyProvider()
    {
        using var dir = PluginsFolder("Execd.Executors.Shell", "Execd.Storage.Memory", "Execd.TestPlugins.SlowHealthCheck");
        using var control = TestPaths.NewDirectory("slow-check");
        await using var daemon = await StartWithSlowCheckAsync(dir, control, recordStore: false);

        using (var ping = await daemon.Client.GetAsync("/ping"))
        {
            Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        }
        var run = await daemon.RunAsync("echo stored");
        Assert.Equal(["stored"], run.Texts("stdout"));
        var status = JsonNode.Parse(await daemon.Client.GetStringAsync($"/command/status/{run.Id}"))!;
        Assert.Equal("memory", (string?)status["output_provider"]);
        // All of that happened while the slow check was still blocked.
        Assert.False(File.Exists(control.Combine("checked")), "the slow health check finished before it was released");

        File.WriteAllText(control.Combine("release"), "");
        // /admin/storage waits for the first complete evaluation, so it shows the released check's verdict.
        var storage = JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/storage"))!;
        var slow = storage["providers"]!.AsArray().Single(p => (string?)p!["name"] == "slow")!;
        Assert.Equal("Healthy", (string?)slow["status"]);
        Assert.Equal("released", (string?)slow["reason"]);
        Assert.True(File.Exists(control.Combine("checked")));
    }

    [Fact]
    public async Task Ping_AnswersWhileStartupReindexingWaitsForARecordStore_OtherRequestsWaitForIt()
    {
        using var dir = PluginsFolder("Execd.Executors.Shell", "Execd.Storage.Memory", "Execd.TestPlugins.SlowHealthCheck");
        using var control = TestPaths.NewDirectory("slow-store");
        // A record store: re-indexing reads it, so it waits for its first health check.
        await using var daemon = await StartWithSlowCheckAsync(dir, control, recordStore: true);

        using (var ping = await daemon.Client.GetAsync("/ping"))
        {
            Assert.Equal(HttpStatusCode.OK, ping.StatusCode);
        }
        var status = daemon.Client.GetAsync("/command/status/0123456789abcdef0123456789abcdef");
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.False(status.IsCompleted, "a status request was answered before start-up re-indexing finished");
        Assert.False(File.Exists(control.Combine("checked")), "the record store's health check finished before it was released");

        File.WriteAllText(control.Combine("release"), "");
        using var answered = await status;
        Assert.Equal(HttpStatusCode.NotFound, answered.StatusCode);
        Assert.True(File.Exists(control.Combine("checked")));
        var reindex = JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/storage"))!["reindex"]!;
        Assert.Equal(0, (int)reindex["restored"]!);
    }

    /// <summary>
    /// A daemon with the shell, memory and the slow-check plugins from <paramref name="plugins"/>; the slow check blocks until
    /// <paramref name="control"/> has a <c>release</c> file, is ranked after memory (a command waits only for the providers ranked
    /// before the first healthy one) and, with <paramref name="recordStore"/>, is a record store.
    /// </summary>
    private static Task<Daemon> StartWithSlowCheckAsync(TestDirectory plugins, TestDirectory control, bool recordStore) =>
        Daemon.StartAsync(new Dictionary<string, string?>
        {
            ["Execd:PluginsDir"] = plugins.Path,
            ["SlowHealthCheck:Directory"] = control.Path,
            ["SlowHealthCheck:RecordStore"] = recordStore ? "true" : "false",
            ["Storage:Health:Timeout"] = "00:01:00",
            ["Storage:Priorities:slow"] = "2000",
        });
}

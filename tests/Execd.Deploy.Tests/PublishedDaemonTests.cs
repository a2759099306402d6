using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Execd.Deploy.Tests;

[Collection(PublishedCollection.Name)]
public sealed partial class PublishedDaemonTests(PublishedExecd published)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Publish_MachineRid_FolderIsSelfContainedWithEveryPluginInItsOwnFolder()
    {
        Assert.True(File.Exists(published.Executable), published.PublishOutput);
        Assert.True(File.GetUnixFileMode(published.Executable).HasFlag(UnixFileMode.UserExecute));
        // The runtime itself is in the folder: the host needs no installed .NET.
        Assert.True(File.Exists(Path.Combine(published.Folder, "libcoreclr.so")));
        Assert.True(File.Exists(Path.Combine(published.Folder, "System.Private.CoreLib.dll")));
        Assert.True(File.Exists(Path.Combine(published.Folder, "Microsoft.AspNetCore.Server.Kestrel.Core.dll")));

        var pluginsDir = Path.Combine(published.Folder, "plugins");
        Assert.Equal(published.ExpectedPlugins, Directory.GetDirectories(pluginsDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var plugin in published.ExpectedPlugins)
        {
            var dir = Path.Combine(pluginsDir, plugin);
            Assert.True(File.Exists(Path.Combine(dir, plugin + ".dll")), plugin);
            Assert.True(File.Exists(Path.Combine(dir, plugin + ".deps.json")), plugin);
            // Shared with the host, never private copies: the contract assembly and the framework.
            Assert.False(File.Exists(Path.Combine(dir, "Execd.Abstractions.dll")), plugin);
            Assert.False(File.Exists(Path.Combine(dir, "System.Private.CoreLib.dll")), plugin);
            Assert.False(File.Exists(Path.Combine(dir, "Microsoft.Extensions.Logging.Abstractions.dll")), plugin);
        }

        var files = Directory.GetFiles(published.Folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(published.Folder, f)).ToList();
        Assert.DoesNotContain(files, f => f.EndsWith(".pdb", StringComparison.Ordinal));
        Assert.DoesNotContain(files, f => f.EndsWith(".exe", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(files, f => Regex.IsMatch(f, @"(^|/)runtimes/(win|osx|maccatalyst|freebsd)"));
        // NetMQ's dependency is compile-time only in the Jupyter plugin (only a buffer pool the plugin never selects uses it): 2.4 MB left out.
        Assert.DoesNotContain(files, f => f.StartsWith("plugins/Execd.Executors.Jupyter/System.ServiceModel", StringComparison.Ordinal));

        if (File.Exists(Path.Combine(TestPaths.Root, "modules", "Execd.PowerShell", "Execd.PowerShell.csproj")))
        {
            Assert.True(File.Exists(Path.Combine(published.Folder, "modules", "execd", "execd.psd1")));
        }
    }

    [Fact]
    public async Task PublishedDaemon_ScrubbedEnvironment_ServesPingCommandsAndLoadsEveryPlugin()
    {
        using var home = TestPaths.NewDirectory("scrubbed");
        var environment = published.ScrubbedEnvironment(home);
        Assert.DoesNotContain(environment.Keys, k => k.StartsWith("DOTNET", StringComparison.Ordinal));
        var (found, where) = await published.FindDotnetAsync(home);
        Assert.True(found != 0, $"dotnet is reachable in the scrubbed environment: {where}");

        await using var daemon = Launched.Start(published.Executable, ["--port", "0", "--host", "127.0.0.1"], environment, home.Path);
        var listening = await daemon.WaitForLineAsync(ListeningLine(), StartTimeout);
        using var client = new HttpClient { BaseAddress = new Uri(listening.Groups[1].Value), Timeout = TimeSpan.FromSeconds(30) };

        using (var ping = await client.GetAsync("/ping"))
        {
            Assert.Equal(200, (int)ping.StatusCode);
        }

        var foreground = await RunAsync(client, "echo hello from $HOME; echo oops >&2; exit 3");
        Assert.Equal(200, foreground.Status);
        Assert.Equal([$"hello from {home.Path}"], foreground.Texts("stdout"));
        Assert.Equal(["oops"], foreground.Texts("stderr"));
        Assert.Equal(3, foreground.ExitCode);

        var background = await RunAsync(client, "echo bg-one; sleep 0.2; echo bg-two", new { background = true });
        Assert.Equal(200, background.Status);
        var status = await WaitFinishedAsync(client, background.Id!);
        Assert.Equal(0, (int)status["exit_code"]!);
        Assert.Equal("bg-one\nbg-two\n", await client.GetStringAsync($"/command/{background.Id}/logs?cursor=0"));

        var plugins = JsonNode.Parse(await client.GetStringAsync("/admin/plugins"))!.AsArray();
        Assert.Equal(published.ExpectedPlugins, plugins.Select(p => (string)p!["name"]!).Order(StringComparer.Ordinal));
        Assert.All(plugins, p => Assert.True((string?)p!["status"] == ExpectedStatusAtStart((string)p!["name"]!), p!.ToJsonString()));
        Assert.All(plugins, p => Assert.StartsWith(Path.Combine(published.Folder, "plugins"), (string)p!["path"]!));

        if (published.ExpectedPlugins.Contains("Execd.Executors.PowerShell"))
        {
            // PowerShell's built-in modules (Get-Date lives in Microsoft.PowerShell.Utility) must survive the publish.
            var pwsh = await RunAsync(client, "Get-Date -Year 2020 -Month 1 -Day 2 -Format yyyy-MM-dd", new { executor = "pwsh" });
            Assert.Equal(["2020-01-02"], pwsh.Texts("stdout"));
            Assert.Equal(0, pwsh.ExitCode);
        }
    }

    /// <summary>
    /// Shipped plugins are activated at start-up, except the PowerShell executor (it waits for its first command) and the
    /// Redis provider, which stays Loaded and inactive until Storage:Redis:Configuration is set.
    /// </summary>
    internal static string ExpectedStatusAtStart(string plugin) => plugin is "Execd.Executors.PowerShell" or "Execd.Storage.Redis" ? "Loaded" : "Activated";

    internal static async Task<StreamResult> RunAsync(HttpClient client, string command, object? extra = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/command") { Content = new StringContent(Daemon.Body(command, extra), Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new StreamResult((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
    }

    private static async Task<JsonNode> WaitFinishedAsync(HttpClient client, string id)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            using var response = await client.GetAsync($"/command/status/{id}");
            Assert.Equal(200, (int)response.StatusCode);
            var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            if (!(bool)status["running"]!)
            {
                return status;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"command {id} still running");
    }

    [GeneratedRegex(@"execd listening on (http://127\.0\.0\.1:\d+)")]
    internal static partial Regex ListeningLine();
}

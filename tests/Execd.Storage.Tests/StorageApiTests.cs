using System.Net;
using System.Text.Json.Nodes;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Storage.Tests;

public sealed class StorageApiTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("api");

    private static async Task<(HttpStatusCode Status, JsonObject Body)> HealthAsync(Daemon daemon)
    {
        using var response = await daemon.Client.GetAsync("/healthz");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    [Fact]
    public async Task AdminStorage_ReturnsProvidersInRankOrderWithEveryField()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = $"{_dir.Combine("a")}:{_dir.Combine("b")}",
            [Daemon.TmpfsDirectoriesKey] = _dir.Combine("not-tmpfs"),
        });
        var id = (await daemon.RunAsync("seq 1 10")).Id!;

        var body = JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/storage"))!.AsObject();

        Assert.True(DateTimeOffset.TryParse((string?)body["evaluated_at"], out _));
        var providers = body["providers"]!.AsArray().Select(p => p!.AsObject()).ToList();
        Assert.Equal([1, 2, 3, 4], providers.Select(p => (int)p["rank"]!));
        Assert.Equal([$"files:{_dir.Combine("a")}", $"files:{_dir.Combine("b")}", "memory", $"tmpfs:{_dir.Combine("not-tmpfs")}"],
            providers.Select(p => (string?)p["name"]));
        Assert.All(providers, p => Assert.Equal(
            ["rank", "name", "kind", "location", "status", "reason", "free_bytes", "bytes_held", "commands_held"], p.Select(kv => kv.Key)));
        Assert.Equal(["Healthy", "Healthy", "Healthy", "Unhealthy"], providers.Select(p => (string?)p["status"]));
        Assert.Contains("not on a tmpfs", (string?)providers[3]["reason"]);
        Assert.Equal(21, (long)providers[0]["bytes_held"]!);
        Assert.Equal(1, (int)providers[0]["commands_held"]!);
        Assert.True((long)providers[0]["free_bytes"]! > 0);
        Assert.Single(Directory.GetFiles(_dir.Combine("a"), id + ".*.log"));
    }

    [RootFact("mounts a tmpfs")]
    public async Task Healthz_EveryProviderHealthy_Is200Healthy()
    {
        using var shm = Mount.Tmpfs(_dir.Combine("shm"), "8m");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = _dir.Combine("a"),
            [Daemon.TmpfsDirectoriesKey] = Path.Combine(shm.Path, "execd"),
            ["Storage:Tmpfs:MinFreeBytes"] = "0",
        });

        var (status, body) = await HealthAsync(daemon);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Healthy", (string?)body["status"]);
        Assert.Equal("Healthy", (string?)body["entries"]![$"tmpfs:{shm.Path}/execd"]!["status"]);
        Assert.Equal([$"files:{_dir.Combine("a")}", "memory", "plugins", $"tmpfs:{shm.Path}/execd"],
            body["entries"]!.AsObject().Select(kv => kv.Key).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task Healthz_TmpfsPluginWithNoDirectory_Is200DegradedNamingThePlugin()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = _dir.Combine("a"),
            [Daemon.TmpfsDirectoriesKey] = "",
        });

        var (status, body) = await HealthAsync(daemon);

        // The tmpfs plugin with no directory contributes nothing, which the host reports as a failed plugin.
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", (string?)body["status"]);
        Assert.Equal("Healthy", (string?)body["entries"]![$"files:{_dir.Combine("a")}"]!["status"]);
        Assert.Equal("Degraded", (string?)body["entries"]!["plugins"]!["status"]);
        Assert.Contains("Execd.Storage.Tmpfs", (string?)body["entries"]!["plugins"]!["description"]);
        Assert.Equal(["storage"], body["entries"]!["memory"]!["tags"]!.AsArray().Select(t => (string?)t));
        Assert.True((double)body["total_duration_ms"]! >= 0);
    }

    [Fact]
    public async Task Healthz_ProviderUnhealthy_Is200Degraded()
    {
        var blocker = _dir.Combine("blocker");
        File.WriteAllText(blocker, "a file");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { [Daemon.FilesDirectoriesKey] = $"{_dir.Combine("a")}:{blocker}/x" });

        var (status, body) = await HealthAsync(daemon);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Degraded", (string?)body["status"]);
        Assert.Equal("Unhealthy", (string?)body["entries"]![$"files:{blocker}/x"]!["status"]);
        Assert.False(string.IsNullOrEmpty((string?)body["entries"]![$"files:{blocker}/x"]!["description"]));
    }

    [Fact]
    public async Task Healthz_EveryProviderUnhealthy_Is503()
    {
        var blocker = _dir.Combine("blocker");
        File.WriteAllText(blocker, "a file");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = $"{blocker}/x",
            ["Storage:Memory:BudgetBytes"] = "65536",
            ["Storage:Health:Interval"] = "00:00:00.2",
        });
        // Fills the memory budget and keeps it: the command is still running.
        var id = await daemon.Client.StartBackgroundAsync("seq 1 100000; sleep 30");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var (status, body) = await HealthAsync(daemon);
        while (status != HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            (status, body) = await HealthAsync(daemon);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("Unhealthy", (string?)body["status"]);
        Assert.Equal("Unhealthy", (string?)body["entries"]!["memory"]!["status"]);
        await daemon.Client.DeleteAsync($"/command?id={id}");
    }

    [Fact]
    public async Task AdminStorage_DirectoryBrokenAfterStart_IsReRankedWithinSeconds()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = $"{_dir.Combine("a")}:{_dir.Combine("b")}",
            ["Storage:Health:Interval"] = "00:00:01",
        });
        Assert.Equal($"files:{_dir.Combine("a")}", (string?)(await daemon.Client.ProvidersAsync())[0]!["name"]);

        Directory.Delete(_dir.Combine("a"), recursive: true);
        File.WriteAllText(_dir.Combine("a"), "no longer a directory");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        JsonArray providers;
        do
        {
            await Task.Delay(100);
            providers = await daemon.Client.ProvidersAsync();
        }
        while ((string?)providers[0]!["name"] != $"files:{_dir.Combine("b")}" && DateTime.UtcNow < deadline);

        Assert.Equal($"files:{_dir.Combine("b")}", (string?)providers[0]!["name"]);
        var a = providers.Single(p => (string?)p!["name"] == $"files:{_dir.Combine("a")}")!;
        Assert.Equal("Unhealthy", (string?)a["status"]);
    }

    [Fact]
    public void Publish_RanksByHealthThenConfiguredPriority()
    {
        // Contributed p4 first; the host's configuration ranks p3 before p4 (by name) and before p1/p2 (by kind).
        var providers = new[] { "p4", "p1", "p2", "p3" }.Select(n => new NamedProvider(n)).ToArray();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Priorities:test"] = "10",
            ["Storage:Priorities:p3"] = "5",
        }).Build();
        var plugin = new PluginInfo("test", "test.dll");
        var ranking = new StorageRanking(providers.Select(p => new PluginContribution(plugin, typeof(IOutputStorageProvider), _ => p, p.Name)),
            new ServiceCollection().AddSingleton<IConfiguration>(configuration).BuildServiceProvider(), NullLogger<StorageRanking>.Instance);
        providers = [.. providers.OrderBy(p => p.Name, StringComparer.Ordinal)];

        ranking.Publish(DateTimeOffset.UnixEpoch, [
            new RankedProvider(providers[0], ProviderHealth.Unhealthy, "x"),
            new RankedProvider(providers[1], ProviderHealth.Degraded, "x"),
            new RankedProvider(providers[2], ProviderHealth.Healthy, "x"),
            new RankedProvider(providers[3], ProviderHealth.Healthy, "x"),
        ]);
        var published = ranking.Current.Select(r => r.Provider.Name).ToArray();
        ranking.ReportFailure(providers[2], new IOException("disk full"));

        Assert.Equal(["p3", "p4", "p2", "p1"], published);
        Assert.Equal(["p4", "p2", "p3", "p1"], ranking.Current.Select(r => r.Provider.Name).ToArray());
        Assert.Equal(DateTimeOffset.UnixEpoch, ranking.Snapshot.EvaluatedAt);
    }

    [Fact]
    public void Priorities_DefaultsKeepFilesThenTmpfsThenOthersThenMemory_AndConfigurationWins()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:Priorities:memory"] = "1",
            ["Storage:Priorities:files:/b"] = "150",
        }).Build();

        Assert.Equal(100, StoragePriorities.Of(new NamedProvider("files:/a", "files"), null, out _));
        Assert.Equal(200, StoragePriorities.Of(new NamedProvider("tmpfs:/s", "tmpfs"), null, out _));
        Assert.Equal(500, StoragePriorities.Of(new NamedProvider("s3", "s3"), null, out _));
        Assert.Equal(1000, StoragePriorities.Of(new NamedProvider("memory", "memory"), null, out _));
        Assert.Equal(1, StoragePriorities.Of(new NamedProvider("memory", "memory"), configuration, out _));
        Assert.Equal(150, StoragePriorities.Of(new NamedProvider("files:/b", "files"), configuration, out _));
        Assert.Equal(100, StoragePriorities.Of(new NamedProvider("files:/a", "files"), configuration, out _));
        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Storage:Priorities:files"] = "first" }).Build();
        Assert.Equal(100, StoragePriorities.Of(new NamedProvider("files:/a", "files"), bad, out var error));
        Assert.Contains("Storage:Priorities:files", error);
    }

    private sealed class NamedProvider(string name, string kind = "test") : IOutputStorageProvider
    {
        public string Name => name;
        public string Kind => kind;
        public string Location => "nowhere";
        public long BytesHeld => 0;
        public int SinksHeld => 0;
        public IOutputSink Open(string commandId) => throw new IOException("not for storing");
    }

    public void Dispose() => _dir.Dispose();
}

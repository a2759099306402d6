using System.Text;
using Execd.Storage.Redis;
using Execd.Storage.Tests;
using StackExchange.Redis;

namespace Execd.Redis.Tests;

/// <summary>
/// The real daemon (plugins loaded from the build's plugins folder, the Redis plugin with its own StackExchange.Redis)
/// with Redis as the top provider and files as the next one, on directories the test owns.
/// </summary>
public sealed class RedisDaemonTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("redis-daemon");
    private const string Sandbox = "sb-daemon";

    private Task<Daemon> StartAsync(string configuration) => Daemon.StartAsync(RedisServer.DaemonSettings(configuration, _dir, Sandbox));

    private static async Task<System.Text.Json.Nodes.JsonObject> WaitProviderAsync(Daemon daemon, string status, int? rank, string? reason = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var redis = (await daemon.Client.ProvidersAsync()).Select(p => p!.AsObject()).Single(p => (string?)p["name"] == "redis");
            if ((string?)redis["status"] == status && (rank is null || (int)redis["rank"]! == rank)
                && (reason is null || ((string?)redis["reason"] ?? "").Contains(reason, StringComparison.Ordinal)))
            {
                return redis;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"redis provider did not become {status} at rank {rank}: {redis}");
            }
            await Task.Delay(100);
        }
    }

    private static async Task<FleetOutput?> ReadFromRedisAsync(RedisServer redis, string id)
    {
        using var plain = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        return await FleetOutput.ReadAsync(plain.GetDatabase(), new RedisKeys("execd", Sandbox), id);
    }

    [Fact]
    public async Task RedisNotConfigured_ThePluginIsLoadedInactiveSayingWhy_AndThePluginsCheckStaysHealthy()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = _dir.Combine("files"),
            [Daemon.TmpfsDirectoriesKey] = _dir.Combine("tmpfs"),
        });

        var plugins = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/plugins"))!.AsArray();
        var redis = plugins.Single(p => (string?)p!["name"] == "Execd.Storage.Redis")!;
        var health = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync("/healthz"))!;

        Assert.Equal("Loaded", (string?)redis["status"]);
        // Known from the plugin's metadata: its code (and StackExchange.Redis) was not loaded to find that out.
        Assert.Equal("inactive: Storage:Redis:Configuration is not set (declared in the plugin's metadata; its code was not loaded)", (string?)redis["reason"]);
        Assert.Empty(redis["contributes"]!.AsArray());
        Assert.DoesNotContain(await daemon.Client.ProvidersAsync(), p => (string?)p!["name"] == "redis");
        // Only a failed plugin degrades the plugins check; an inactive one is named nowhere there.
        var pluginsCheck = health["entries"]!["plugins"]!;
        Assert.DoesNotContain("Execd.Storage.Redis", (string?)pluginsCheck["description"] ?? "");
    }

    [Fact]
    public async Task RedisUnreachableAtStartup_DaemonStarts_RedisIsUnhealthyWithTheReason_AndCommandsRunOnFiles()
    {
        var redis = RedisServer.Start();
        var configuration = redis.Configuration;
        redis.Dispose();

        await using var daemon = await StartAsync(configuration);
        var provider = await WaitProviderAsync(daemon, "Unhealthy", null, "not connected");
        var result = await daemon.RunAsync("echo still-working");

        Assert.Contains("not connected", (string?)provider["reason"]);
        Assert.Equal(["still-working"], result.Texts("stdout").Select(t => t.TrimEnd('\n')));
        Assert.Equal(["still-working"], await daemon.Client.LogLinesAsync(result.Id!));
    }

    [Fact]
    public async Task WithRedisOnTop_OutputIsReadableFromRedisAlone_AfterTheDaemonAndItsDirectoriesAreGone()
    {
        using var redis = RedisServer.Start();
        string foreground, background;
        await using (var daemon = await StartAsync(redis.Configuration))
        {
            await WaitProviderAsync(daemon, "Healthy", 1);
            foreground = (await daemon.RunAsync("seq 1 1000")).Id!;
            background = await daemon.Client.StartBackgroundAsync("echo out; echo err >&2; seq 1 3");
            await daemon.Client.WaitFinishedAsync(background);
        }
        _dir.Dispose();
        Assert.False(Directory.Exists(_dir.Path));

        var first = await ReadFromRedisAsync(redis, foreground);
        var second = await ReadFromRedisAsync(redis, background);

        Assert.Equal("completed", first!.Record["state"]);
        Assert.Equal(string.Join("", Scenario.SeqLines(1, 1000).Select(l => l + "\n")), Encoding.UTF8.GetString(first.Data));
        var lines = Encoding.UTF8.GetString(second!.Data).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["1", "2", "3", "err", "out"], lines.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task RedisKilledAndRestarted_While20CommandsPrint_NoLineIsLost_AndNewCommandsUseRedisAgain()
    {
        using var redis = RedisServer.Start();
        await using var daemon = await StartAsync(redis.Configuration);
        await WaitProviderAsync(daemon, "Healthy", 1);

        var ids = new string[20];
        for (var k = 0; k < ids.Length; k++)
        {
            ids[k] = await daemon.Client.StartBackgroundAsync($"for i in $(seq 1 150); do echo c{k}-$i; sleep 0.01; done");
        }
        await Task.Delay(500);
        redis.Kill();
        await Task.Delay(1000);
        redis.StartAgain();

        foreach (var (id, k) in ids.Select((id, k) => (id, k)))
        {
            var status = await daemon.Client.WaitFinishedAsync(id);
            Assert.Equal(0, (int)status["exit_code"]!);
            Assert.Equal(Scenario.SeqLines(1, 150, $"c{k}-"), await daemon.Client.LogLinesAsync(id));
        }

        await WaitProviderAsync(daemon, "Healthy", 1);
        var after = await daemon.RunAsync("echo back-on-redis");
        var stored = await ReadFromRedisAsync(redis, after.Id!);
        Assert.Equal("back-on-redis\n", Encoding.UTF8.GetString(stored!.Data));
        Assert.Equal("completed", stored.Record["state"]);
    }

    public void Dispose() => _dir.Dispose();
}

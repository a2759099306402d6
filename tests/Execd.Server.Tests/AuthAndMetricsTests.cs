using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

public sealed class AuthTests : IAsyncLifetime
{
    private const string Token = "s3cret-token";
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync(token: Token);

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("wrong")]
    [InlineData("s3cret-token-and-more")]
    public async Task EveryEndpoint_WithoutTheRightToken_Is401WithJson(string? token)
    {
        using var client = _daemon.NewClient(token);
        foreach (var path in new[] { "/ping", "/metrics", "/command/status/abc", "/admin/plugins", "/nope" })
        {
            using var response = await client.GetAsync(path);
            Assert.Equal(401, (int)response.StatusCode);
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal("Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN", (string?)body["error"]);
            Assert.Equal("UNAUTHORIZED", (string?)body["code"]);
        }
    }

    [Fact]
    public async Task RightToken_IsAccepted()
    {
        using var response = await _daemon.Client.GetAsync("/ping");
        Assert.Equal(200, (int)response.StatusCode);

        var result = await _daemon.RunAsync("echo authed");
        Assert.Equal(["authed"], result.Texts("stdout"));
    }
}

public sealed class MetricsAndPingTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Fact]
    public async Task Ping_IsEmpty200WithContentLengthZero()
    {
        using var response = await _daemon.Client.GetAsync("/ping");

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Metrics_HasIntegerCpuCountAndSaneValues()
    {
        var text = await _daemon.Client.GetStringAsync("/metrics");
        var json = JsonNode.Parse(text)!;

        Assert.Matches("\"cpu_count\":[0-9]+[,}]", text);
        Assert.True((int)json["cpu_count"]! > 0);
        var pct = (double)json["cpu_used_pct"]!;
        Assert.InRange(pct, 0, 100.1);
        Assert.True((double)json["mem_total_mib"]! > 0);
        Assert.InRange((double)json["mem_used_mib"]!, 0, (double)json["mem_total_mib"]!);
        var ts = DateTimeOffset.FromUnixTimeMilliseconds((long)json["timestamp"]!);
        Assert.True(DateTimeOffset.UtcNow - ts < TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task MetricsWatch_StreamsJsonLinesWithSseHeaders()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await _daemon.Client.GetAsync("/metrics/watch", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no", response.Headers.GetValues("X-Accel-Buffering").Single());
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));

        var line = await reader.ReadLineAsync(cts.Token);
        Assert.True((int)JsonNode.Parse(line!)!["cpu_count"]! > 0);
    }

    [Fact]
    public async Task AdminPlugins_ListsShippedPluginsAsActivated()
    {
        var plugins = JsonNode.Parse(await _daemon.Client.GetStringAsync("/admin/plugins"))!.AsArray();

        var shell = plugins.Single(p => (string?)p!["name"] == "Execd.Executors.Shell")!;
        Assert.Equal("Activated", (string?)shell["status"]);
        Assert.Contains("ICommandExecutor: ShellExecutor", shell["contributes"]!.AsArray().Select(c => (string?)c));
        Assert.Equal("Activated", (string?)plugins.Single(p => (string?)p!["name"] == "Execd.Storage.Memory")!["status"]);
    }
}

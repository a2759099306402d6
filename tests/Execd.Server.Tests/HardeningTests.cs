using System.Text;
using System.Text.Json.Nodes;
using Execd.Core.Commands;
using Execd.Server.Hosting;

namespace Execd.Server.Tests;

/// <summary>Issue 11, findings 2 (token), 6 (uid/gid), 8 (statuses): each reproduction as written in the issue.</summary>
public sealed class HardeningTests : IAsyncLifetime
{
    private const string Secret = "tok-3f9a1c2e-secret";
    private Daemon _daemon = null!;

    public async Task InitializeAsync()
    {
        // As a deployment sets it: in the daemon's environment when it starts.
        Environment.SetEnvironmentVariable("EXECD_ACCESS_TOKEN", Secret);
        _daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:AccessToken"] = Secret }, token: Secret);
    }

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private async Task<(int Status, string Code, string Message)> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return ((int)response.StatusCode, (string)json["code"]!, (string)json["message"]!);
    }

    private async Task<(int Status, string Code, string Message)> PostCommandAsync(string body)
    {
        using var response = await _daemon.Client.PostAsync("/command", new StringContent(body, Encoding.UTF8, "application/json"));
        return await ErrorOf(response);
    }

    [Fact]
    public async Task Token_IsNotInTheDaemonsEnvironmentOnceRead_NorInACommandsEnv()
    {
        var result = await _daemon.RunAsync("env; echo \"T=${EXECD_ACCESS_TOKEN-unset}\"");

        Assert.Null(Environment.GetEnvironmentVariable("EXECD_ACCESS_TOKEN"));
        Assert.Contains("T=unset", result.Texts("stdout"));
        Assert.DoesNotContain(result.Texts("stdout"), line => line.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Token_SetAgainLater_StillNeverReachesAChild()
    {
        Environment.SetEnvironmentVariable("EXECD_ACCESS_TOKEN", Secret);
        try
        {
            var result = await _daemon.RunAsync("echo \"T=${EXECD_ACCESS_TOKEN-unset}\"");

            Assert.Equal(["T=unset"], result.Texts("stdout"));
            Assert.False(EnvironmentBuilder.ProcessEnvironment().ContainsKey("EXECD_ACCESS_TOKEN"));
        }
        finally
        {
            Environment.SetEnvironmentVariable("EXECD_ACCESS_TOKEN", null);
        }
    }

    [Fact]
    public async Task Token_IsNotInASessionsEnvironment()
    {
        using var created = await _daemon.Client.PostAsync("/session", null);
        var id = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync())!["session_id"]!;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/session/{id}/run")
        {
            Content = new StringContent("{\"command\":\"echo \\\"T=${EXECD_ACCESS_TOKEN-unset}\\\"; env | grep -c " + Secret + "\"}", Encoding.UTF8, "application/json"),
        };
        using var response = await _daemon.Client.SendAsync(request);
        var run = new StreamResult((int)response.StatusCode, await response.Content.ReadAsStringAsync(), null);

        Assert.Equal(["T=unset", "0"], run.Texts("stdout"));
    }

    [Theory]
    [InlineData("{\"command\":\"id -u\",\"uid\":4294967295}")]
    [InlineData("{\"command\":\"id -u\",\"uid\":2147483648}")]
    [InlineData("{\"command\":\"id -u\",\"uid\":1000,\"gid\":4294967295}")]
    public async Task UidOrGidBeyondInt32_Is400NotRoot(string body)
    {
        var (status, code, message) = await PostCommandAsync(body);

        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
        Assert.Contains("between 0 and 2147483647", message);
    }

    [Theory]
    [InlineData("{\"command\":\"true\",\"timeout\":4294967295}", "timeout must be at most")]
    [InlineData("{\"command\":\"true\",\"timeout\":9223372036854775807}", "timeout must be at most")]
    [InlineData("{\"command\":\"true\",\"envs\":{\"A=B\":\"x\"}}", "must not contain '=' or NUL")]
    [InlineData("{\"command\":\"true\",\"envs\":{\"A\\u0000B\":\"x\"}}", "must not contain '=' or NUL")]
    [InlineData("{\"command\":\"true\",\"envs\":{\"\":\"x\"}}", "must not be empty")]
    [InlineData("{\"command\":\"true\",\"envs\":{\"A\":\"x\\u0000y\"}}", "must not contain NUL")]
    [InlineData("{\"command\":\"true\",\"cwd\":\"relative/dir\"}", "must be an absolute path")]
    [InlineData("{\"command\":\"true\",\"cwd\":\"..\"}", "must be an absolute path")]
    public async Task RunCommand_ValuesTheDaemonCannotHonour_Are400(string body, string message)
    {
        var (status, code, actual) = await PostCommandAsync(body);

        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
        Assert.Contains(message, actual);
    }

    [Fact]
    public async Task SessionRun_HugeTimeoutOrRelativeCwd_Is400()
    {
        using var created = await _daemon.Client.PostAsync("/session", null);
        var id = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync())!["session_id"]!;
        using var relativeCreate = await _daemon.Client.PostAsync("/session", new StringContent("{\"cwd\":\"rel\"}", Encoding.UTF8, "application/json"));

        using var huge = await _daemon.Client.PostAsync($"/session/{id}/run", new StringContent("{\"command\":\"true\",\"timeout\":4294967295}", Encoding.UTF8, "application/json"));
        using var relative = await _daemon.Client.PostAsync($"/session/{id}/run", new StringContent("{\"command\":\"true\",\"cwd\":\"rel\"}", Encoding.UTF8, "application/json"));

        Assert.Equal(400, (await ErrorOf(huge)).Status);
        Assert.Equal(400, (await ErrorOf(relative)).Status);
        Assert.Equal(400, (await ErrorOf(relativeCreate)).Status);
        Assert.False(Directory.Exists(Path.Combine(AppContext.BaseDirectory, "rel")));
    }

    [Fact]
    public async Task Logs_NonNumericCursor_Is400()
    {
        var result = await _daemon.RunAsync("echo x");

        using var response = await _daemon.Client.GetAsync($"/command/{result.Id}/logs?cursor=abc");
        using var empty = await _daemon.Client.GetAsync($"/command/{result.Id}/logs?cursor=");

        var (status, code, message) = await ErrorOf(response);
        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
        Assert.Contains("abc", message);
        Assert.Equal(200, (int)empty.StatusCode);
    }

    [Fact]
    public async Task Body_Over30MB_Is413Json()
    {
        // A raw connection: the server answers as soon as it sees the size and closes, so a client still sending
        // the rest (HttpClient) would only see the reset. Here the head and the first bytes go, then the answer is read.
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(_daemon.BaseAddress.Host, _daemon.BaseAddress.Port);
        var stream = socket.GetStream();
        var head = $"POST /command HTTP/1.1\r\nHost: x\r\n{AccessTokenMiddleware.Header}: {Secret}\r\nContent-Type: application/json\r\n" +
            $"Content-Length: {31 * 1024 * 1024}\r\n\r\n{{\"command\":\"";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var response = await reader.ReadToEndAsync(bounded.Token);

        Assert.StartsWith("HTTP/1.1 413", response);
        Assert.Contains("Content-Type: application/json", response);
        // The body is chunked: the one JSON object inside it.
        var body = JsonNode.Parse(response[response.IndexOf('{', StringComparison.Ordinal)..(response.LastIndexOf('}') + 1)])!;
        Assert.Equal("INVALID_REQUEST_BODY", (string?)body["code"]);
        Assert.Contains("too large", (string?)body["message"], StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task LongUrl_Is414Json_AndHugeHeaders_Are431Json()
    {
        using var longUrl = await _daemon.Client.GetAsync("/command/status/" + new string('a', RequestLimits.MaxTargetBytes + 10));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ping");
        request.Headers.Add("X-Big", new string('b', RequestLimits.MaxHeaderBytes + 10));
        using var bigHeaders = await _daemon.Client.SendAsync(request);

        Assert.Equal(414, (await ErrorOf(longUrl)).Status);
        Assert.Equal(431, (await ErrorOf(bigHeaders)).Status);
    }
}

/// <summary><c>--access-token-file</c>: the token from a file, so it is not in <c>/proc/PID/cmdline</c>.</summary>
public sealed class AccessTokenFileTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("token");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task TokenFile_FirstLineIsTheToken()
    {
        var file = _dir.Combine("token");
        await File.WriteAllTextAsync(file, "from-file-token\nignored\n");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:AccessTokenFile"] = file });

        using var without = await daemon.Client.GetAsync("/ping");
        using var client = daemon.NewClient("from-file-token");
        using var with = await client.GetAsync("/ping");

        Assert.Equal(401, (int)without.StatusCode);
        Assert.Equal(200, (int)with.StatusCode);
    }

    [Fact]
    public async Task TokenFile_MissingOrTogetherWithAToken_RefusesToStart()
    {
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => Daemon.StartAsync(
            new Dictionary<string, string?> { ["Execd:AccessTokenFile"] = _dir.Combine("nope") }));
        var file = _dir.Combine("token");
        await File.WriteAllTextAsync(file, "t\n");
        var both = await Assert.ThrowsAsync<ArgumentException>(() => Daemon.StartAsync(
            new Dictionary<string, string?> { ["Execd:AccessTokenFile"] = file, ["Execd:AccessToken"] = "t" }));

        Assert.Contains("nope", missing.Message);
        Assert.Contains("not both", both.Message);
    }

    [Fact]
    public void Cli_SaysWhetherTheTokenCameFromTheCommandLine()
    {
        var flag = Cli.Parse(["--access-token", "x"], _ => null);
        var env = Cli.Parse([], name => name == "EXECD_ACCESS_TOKEN" ? "x" : null);

        Assert.Contains("access-token", flag.FlagsGiven!);
        Assert.DoesNotContain("access-token", env.FlagsGiven!);
        Assert.Equal("x", env.Settings["Execd:AccessToken"]);
    }
}

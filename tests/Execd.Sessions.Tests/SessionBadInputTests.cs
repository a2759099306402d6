using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Sessions.Tests;

/// <summary>Bad input gets a 4xx in the wire format and disturbs nothing else.</summary>
public sealed class SessionBadInputTests : IAsyncLifetime
{
    private Daemon _daemon = null!;
    private readonly TestDirectory _dir = TestPaths.NewDirectory("bad");

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("null")]
    [InlineData("{\"CWD\":\"/\"}")]
    public async Task Create_OptionalBodyForms_AnswerAStringSessionId(string? body)
    {
        using var content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json");

        using var response = await _daemon.Client.PostAsync("/session", content);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", (string?)json["session_id"]);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("{\"cwd\":", "INVALID_REQUEST_BODY")]
    [InlineData("{\"cwd\":5}", "INVALID_REQUEST_BODY")]
    [InlineData("{\"cwd\":\"$NO_SUCH_VARIABLE_X/y\"}", "INVALID_REQUEST_BODY")]
    public async Task Create_InvalidBodyOrCwd_Is400(string body, string code)
    {
        using var response = await _daemon.Client.PostAsync("/session", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertErrorAsync(response, 400, code);
    }

    [Fact]
    public async Task Create_CwdThatIsAFile_Is400()
    {
        var file = _dir.Combine("file");
        await File.WriteAllTextAsync(file, "x");

        using var response = await _daemon.Client.PostAsync("/session", SessionClient.Json(new JsonObject { ["cwd"] = file }));

        var message = await AssertErrorAsync(response, 400, "INVALID_REQUEST_BODY");
        Assert.Contains("not a directory", message);
    }

    [Theory]
    [InlineData("", "error parsing request. EOF")]
    [InlineData("{", "error parsing request.")]
    [InlineData("{\"command\":\"\"}", "'RunInSessionRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag")]
    [InlineData("{}", "'Command' failed on the 'required' tag")]
    [InlineData("{\"command\":\"true\",\"timeout\":-1}", "'RunInSessionRequest.Timeout' Error:Field validation for 'Timeout' failed on the 'gte' tag")]
    [InlineData("{\"command\":\"true\",\"timeout\":\"5\"}", "error parsing request.")]
    [InlineData("{\"command\":\"true\",\"timeout\":1.5}", "error parsing request.")]
    [InlineData("{\"command\":\"a\\u0000b\"}", "NUL")]
    [InlineData("{\"command\":\"true\",\"cwd\":\"/no/such/dir\"}", "working directory does not exist")]
    public async Task Run_BadBody_Is400AndTheSessionStillWorks(string body, string message)
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "KEEP=me");

        var run = await _daemon.RunRawAsync(s, body);

        Assert.Equal(400, run.Status);
        Assert.Equal("INVALID_REQUEST_BODY", (string?)run.Body!["code"]);
        Assert.Contains(message, (string?)run.Body!["message"]);
        Assert.Equal(["me"], (await _daemon.RunInAsync(s, "echo $KEEP")).Stdout);
    }

    [Theory]
    [InlineData("0b7e3c52-6f1a-4d8e-9c2b-3a4f5e6d7c8b")]
    [InlineData("not-a-uuid")]
    public async Task Run_UnknownSession_Is404ContextNotFound(string id)
    {
        var run = await _daemon.RunInAsync(id, "echo hi");

        Assert.Equal(404, run.Status);
        Assert.Equal("CONTEXT_NOT_FOUND", (string?)run.Body!["code"]);
        Assert.Equal($"error running in session. session {id} not found", (string?)run.Body!["message"]);
    }

    [Fact]
    public async Task Delete_UnknownSession_Is404LikeUpstream()
    {
        var (status, body) = await _daemon.DeleteAsync("0b7e3c52-6f1a-4d8e-9c2b-3a4f5e6d7c8b");

        Assert.Equal(404, status);
        var json = JsonNode.Parse(body)!;
        Assert.Equal("CONTEXT_NOT_FOUND", (string?)json["code"]);
        Assert.Equal("session 0b7e3c52-6f1a-4d8e-9c2b-3a4f5e6d7c8b not found", (string?)json["message"]);
    }

    [Fact]
    public async Task Run_ZeroTimeout_MeansNoShortLimit()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "sleep 0.2; echo done", timeout: 0);

        Assert.Equal(["done"], run.Stdout);
        Assert.Equal(0, run.ExitCode);
    }

    private static async Task<string?> AssertErrorAsync(HttpResponseMessage response, int status, string code)
    {
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(code, (string?)json["code"]);
        Assert.False(string.IsNullOrEmpty((string?)json["message"]));
        return (string?)json["message"];
    }
}

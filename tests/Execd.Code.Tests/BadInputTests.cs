using System.Text.Json.Nodes;

namespace Execd.Code.Tests;

/// <summary>Every bad input of the issue: a clear 4xx or an <c>error</c> event, and the context and daemon go on.</summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private CodeDaemon _d = null!;

    public async Task InitializeAsync() => _d = await CodeDaemon.StartAsync((dirs, _) =>
    {
        // A kernelspec whose program does not exist, and one whose program exits at once.
        WriteSpec(dirs, "missing", "missinglang", ["/nonexistent/kernel-binary", "-f", "{connection_file}"]);
        WriteSpec(dirs, "quitter", "quitlang", ["/bin/sh", "-c", "echo kernel refuses to start >&2; exit 3", "{connection_file}"]);
        // Real ipykernels whose shell port is taken by another socket before they bind it (as another process can
        // take a port between the daemon picking it and the kernel binding it): the first start only, or every start.
        var squatter = dirs.Combine("squat-then-launch.py");
        File.WriteAllText(squatter, SquatThenLaunch);
        WriteSpec(dirs, "contested", "contestedlang", ["/usr/bin/python3", squatter, dirs.Combine("contested.tried"), "{connection_file}"]);
        WriteSpec(dirs, "always-contested", "alwayscontestedlang", ["/usr/bin/python3", squatter, "", "{connection_file}"]);
    });

    /// <summary>Binds the connection file's shell port itself (unless the marker file exists; it creates it), then runs ipykernel.</summary>
    private const string SquatThenLaunch = """
        import json, os, runpy, socket, sys
        marker, connection_file = sys.argv[1], sys.argv[2]
        if not marker or not os.path.exists(marker):
            if marker:
                open(marker, "w").close()
            squat = socket.socket()
            squat.bind(("127.0.0.1", json.load(open(connection_file))["shell_port"]))
            squat.listen()
        sys.argv = ["ipykernel_launcher", "-f", connection_file]
        runpy.run_module("ipykernel_launcher", run_name="__main__")
        """;

    public async Task DisposeAsync() => await _d.DisposeAsync();

    private static void WriteSpec(TestDirectory dirs, string name, string language, string[] argv)
    {
        var folder = dirs.Combine("kernels", "kernels", name);
        Directory.CreateDirectory(folder);
        var spec = new JsonObject { ["argv"] = new JsonArray(argv.Select(a => (JsonNode)a!).ToArray()), ["language"] = language, ["display_name"] = name };
        File.WriteAllText(Path.Combine(folder, "kernel.json"), spec.ToJsonString());
    }

    private static void AssertError(int expectedStatus, (int Status, JsonNode? Body) response, string code, string? contains = null)
    {
        Assert.Equal(expectedStatus, response.Status);
        Assert.Equal(code, (string?)response.Body!["code"]);
        if (contains is not null)
        {
            Assert.Contains(contains, (string?)response.Body["message"], StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("{not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"language\": 5}")]
    public async Task CreateContext_MalformedBody_400(string body) =>
        AssertError(400, await _d.SendAsync(HttpMethod.Post, "/code/context", body), "INVALID_REQUEST_BODY");

    [Fact]
    public async Task CreateContext_UnknownLanguage_400ListingAvailable() =>
        AssertError(400, await _d.SendAsync(HttpMethod.Post, "/code/context", "{\"language\":\"cobol\"}"), "UNKNOWN_LANGUAGE", "python");

    [Fact]
    public async Task CreateContext_EmptyLanguage_400ListingAvailable() =>
        AssertError(400, await _d.SendAsync(HttpMethod.Post, "/code/context", "{}"), "UNKNOWN_LANGUAGE", "available: ");

    [Fact]
    public async Task CreateContext_KernelProgramMissing_500SayingWhy() =>
        AssertError(500, await _d.SendAsync(HttpMethod.Post, "/code/context", "{\"language\":\"missinglang\"}"), "RUNTIME_ERROR", "missing");

    [Fact]
    public async Task CreateContext_KernelExitsAtOnce_500WithItsOutput()
    {
        var response = await _d.SendAsync(HttpMethod.Post, "/code/context", "{\"language\":\"quitlang\"}");
        AssertError(500, response, "RUNTIME_ERROR", "kernel refuses to start");
        Assert.DoesNotContain((await _d.AdminAsync()).OfType<JsonObject>(), o => (string?)o["language"] == "quitlang");
    }

    [Fact]
    public async Task CreateContext_KernelPortTakenBeforeItBinds_StartedAgainOnFreshPorts()
    {
        var id = await _d.CreateContextAsync("contestedlang");
        var run = await _d.RunAsync(id, "print(6 * 7)", language: "contestedlang");
        Assert.Equal("42\n", run.Stdout);
        Assert.True(File.Exists(_d.Dirs.Combine("contested.tried")), "the first start did not run the squatter");
    }

    [Fact]
    public async Task CreateContext_KernelPortTakenOnEveryStart_500AfterRetries()
    {
        var response = await _d.SendAsync(HttpMethod.Post, "/code/context", "{\"language\":\"alwayscontestedlang\"}");
        AssertError(500, response, "RUNTIME_ERROR", "Address already in use");
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"code\":")]
    [InlineData("{\"code\": 42, \"context\": {\"language\": \"python\"}}")]
    [InlineData("{\"code\": [\"print(1)\"]}")]
    public async Task Run_MalformedOrNonStringCode_400(string body)
    {
        var run = await _d.RunRawAsync(body);
        Assert.Equal(400, run.Status);
        Assert.Contains("INVALID_REQUEST_BODY", run.Body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"context\": {\"language\": \"python\"}}")]
    [InlineData("{\"code\": \"\", \"context\": {\"language\": \"python\"}}")]
    public async Task Run_CodeMissing_400Required(string body)
    {
        var run = await _d.RunRawAsync(body);
        Assert.Equal(400, run.Status);
        Assert.Contains("'required' tag", (string?)JsonNode.Parse(run.Body)!["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_NegativeTimeout_400() =>
        Assert.Equal(400, (await _d.RunRawAsync("{\"code\":\"1\",\"timeout\":-1,\"context\":{\"language\":\"python\"}}")).Status);

    [Fact]
    public async Task Run_UnknownLanguage_400ListingAvailable()
    {
        var run = await _d.RunAsync(null, "1", language: "cobol");
        Assert.Equal(400, run.Status);
        Assert.Contains("python", run.Body, StringComparison.Ordinal);
        Assert.Contains("UNKNOWN_LANGUAGE", run.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownContextId_404Everywhere()
    {
        var id = Guid.NewGuid().ToString("D");
        Assert.Equal(404, (await _d.RunAsync(id, "1")).Status);
        AssertError(404, await _d.SendAsync(HttpMethod.Get, $"/code/contexts/{id}"), "CONTEXT_NOT_FOUND", id);
        AssertError(404, await _d.SendAsync(HttpMethod.Delete, $"/code/contexts/{id}"), "CONTEXT_NOT_FOUND");
        AssertError(404, await _d.SendAsync(HttpMethod.Delete, $"/code?id={id}"), "CONTEXT_NOT_FOUND");
        AssertError(400, await _d.SendAsync(HttpMethod.Delete, "/code"), "MISSING_QUERY");
    }

    [Fact]
    public async Task Run_BusyContext_ErrorEventAndFirstRunUnharmed()
    {
        var id = await _d.CreateContextAsync();
        var first = _d.RunAsync(id, "import time\ntime.sleep(1.5)\nprint('first done')");
        for (var i = 0; i < 200 && (string?)(await _d.AdminEntryAsync(id))["state"] != "busy"; i++)
        {
            await Task.Delay(25);
        }
        var second = await _d.RunAsync(id, "print('second')");
        Assert.Equal(200, second.Status);
        Assert.Equal(["init", "status", "error"], second.Types);
        Assert.Equal(id, second.InitText);
        Assert.Equal("ContextBusy", (string?)second.Error!["ename"]);
        var done = await first;
        Assert.Equal("first done\n", done.Stdout);
        Assert.Equal("execution_complete", done.Types[^1]);
    }

    [Fact]
    public async Task ClientDisconnectsMidCell_CellGoesOnAndContextStaysUsable()
    {
        var id = await _d.CreateContextAsync();
        using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(700)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                _d.RunAsync(id, "import time\ntime.sleep(1.5)\nfinished = 'yes'", ct: cts.Token));
        }
        var entry = await _d.AdminEntryAsync(id);
        var command = (string?)entry["running_command"];
        Assert.NotNull(command); // still running after the client left
        for (var i = 0; i < 200 && (string?)(await _d.AdminEntryAsync(id))["state"] != "idle"; i++)
        {
            await Task.Delay(50);
        }
        Assert.Equal("'yes'", (string?)(await _d.RunAsync(id, "finished")).Results.Single()["text"]);
        var (_, status) = await _d.SendAsync(HttpMethod.Get, $"/command/status/{command}");
        Assert.Equal(0, (int)status!["exit_code"]!);
    }
}

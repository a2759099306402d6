using System.Text.Json.Nodes;

namespace Execd.Code.Tests;

/// <summary>Cells in a real ipykernel, over real ZeroMQ: what each kind of cell produces on the wire.</summary>
public sealed class CellTests : IAsyncLifetime
{
    private CodeDaemon _d = null!;

    public async Task InitializeAsync() => _d = await CodeDaemon.StartAsync();

    public async Task DisposeAsync() => await _d.DisposeAsync();

    [Fact]
    public async Task Run_StateAcrossRuns_IsKept()
    {
        var id = await _d.CreateContextAsync();
        var first = await _d.RunAsync(id, "answer = 40 + 2");
        Assert.Equal(["init", "execution_complete"], first.Types);
        var second = await _d.RunAsync(id, "answer");
        Assert.Equal("42", (string?)second.Results.Single()["text"]);
    }

    [Fact]
    public async Task Run_PrintOnly_StreamsTextAsChunkedAndNoCount()
    {
        var id = await _d.CreateContextAsync();
        var run = await _d.RunAsync(id, "print('Hello')\nimport sys; print('oops', file=sys.stderr)");
        Assert.Equal(200, run.Status);
        Assert.Equal(id, run.InitText);
        Assert.Equal("Hello\n", run.Stdout); // terminator kept, as upstream
        Assert.Equal("oops\n", run.Stderr);
        Assert.DoesNotContain("execution_count", run.Types);
        Assert.DoesNotContain("result", run.Types);
        Assert.Equal("execution_complete", run.Types[^1]);
        Assert.Single(run.Types, t => t == "execution_complete");
    }

    [Fact]
    public async Task Run_Expression_CountThenResultWithTextRenamed()
    {
        var id = await _d.CreateContextAsync();
        await _d.RunAsync(id, "x = 1");
        var run = await _d.RunAsync(id, "x = 2 + 2\nx");
        Assert.Equal(["init", "execution_count", "result", "execution_complete"], run.Types);
        var count = run.Events.Single(e => (string?)e["type"] == "execution_count");
        Assert.Equal(2, (int)count["execution_count"]!);
        var results = run.Results.Single();
        Assert.Equal("4", (string?)results["text"]);
        Assert.Null(results["text/plain"]);
        Assert.True((long)run.Events.Last()["execution_time"]! > 0);
    }

    [Fact]
    public async Task Run_DisplayOfImage_ReachesClientAsResultWithMimeKeys()
    {
        var id = await _d.CreateContextAsync();
        const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        var run = await _d.RunAsync(id, $"from IPython.display import display\ndisplay({{'image/png': '{Png}', 'text/plain': '<img>'}}, raw=True)\nprint('after')");
        var result = run.Results.Single();
        Assert.Equal(Png, (string?)result["image/png"]);
        Assert.Equal("<img>", (string?)result["text"]);
        Assert.Equal("after\n", run.Stdout);
        Assert.DoesNotContain("execution_count", run.Types); // a display is not the cell's value
        Assert.Equal("execution_complete", run.Types[^1]);
    }

    [Fact]
    public async Task Run_Exception_StatusErrorThenErrorWithTracebackThenComplete()
    {
        var id = await _d.CreateContextAsync();
        var run = await _d.RunAsync(id, "print(undefined_variable)");
        Assert.Equal(["init", "status", "error", "execution_complete"], run.Types);
        Assert.Equal("error", (string?)run.Events.Single(e => (string?)e["type"] == "status")["text"]);
        Assert.Equal("NameError", (string?)run.Error!["ename"]);
        Assert.Equal("name 'undefined_variable' is not defined", (string?)run.Error["evalue"]);
        var traceback = run.Error["traceback"]!.AsArray().Select(l => (string)l!).ToList();
        Assert.Contains(traceback, l => l.Contains("NameError", StringComparison.Ordinal));
        // The context is still usable.
        Assert.Equal("3", (string?)(await _d.RunAsync(id, "1 + 2")).Results.Single()["text"]);
    }

    [Fact]
    public async Task Run_IsACommand_StatusAndLogsWorkOnItsId()
    {
        var id = await _d.CreateContextAsync();
        var run = await _d.RunAsync(id, "print('logged line')\n6 * 7");
        Assert.NotNull(run.CommandId);
        var (status, body) = await _d.SendAsync(HttpMethod.Get, $"/command/status/{run.CommandId}");
        Assert.Equal(200, status);
        Assert.False((bool)body!["running"]!);
        Assert.Equal(0, (int)body["exit_code"]!);
        Assert.Equal("jupyter", (string?)body["executor"]);
        var logs = await _d.Client.GetStringAsync($"/command/{run.CommandId}/logs?cursor=0");
        Assert.Contains("logged line\n", logs, StringComparison.Ordinal);
        Assert.Contains("42", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ErrorRun_CommandStatusCarriesTheError()
    {
        var id = await _d.CreateContextAsync();
        var run = await _d.RunAsync(id, "raise ValueError('bad value')");
        var (_, body) = await _d.SendAsync(HttpMethod.Get, $"/command/status/{run.CommandId}");
        Assert.Equal(1, (int)body!["exit_code"]!);
        Assert.Contains("ValueError: bad value", (string?)body["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_LanguageOnly_UsesOneDefaultContextThatKeepsState()
    {
        var first = await _d.RunAsync(null, "default_state = 'kept'");
        var second = await _d.RunAsync(null, "default_state");
        Assert.Equal(first.InitText, second.InitText);
        Assert.Equal("'kept'", (string?)second.Results.Single()["text"]);
        var (_, list) = await _d.SendAsync(HttpMethod.Get, "/code/contexts?language=python");
        Assert.Contains(list!.AsArray(), o => (string?)o!["id"] == first.InitText);
    }

    [Fact]
    public async Task Run_EmptyLanguage_RunsAsShellCommand()
    {
        var run = await _d.RunAsync(null, "echo from-shell", language: null);
        Assert.Equal("from-shell", string.Concat(run.Events.Where(e => (string?)e["type"] == "stdout").Select(e => (string?)e["text"])));
        Assert.Equal(32, run.InitText!.Length); // a command id, as upstream
        Assert.Equal(run.CommandId, run.InitText);
    }

    [Fact]
    public async Task Create_WithCwd_KernelStartsThere()
    {
        var cwd = _d.Dirs.Combine("work", "nested");
        var id = await _d.CreateContextAsync(cwd: cwd);
        var run = await _d.RunAsync(id, "import os; print(os.getcwd())");
        Assert.Equal(cwd + "\n", run.Stdout);
        Assert.Equal(cwd, (string?)(await _d.AdminEntryAsync(id))["cwd"]);
    }

    [Fact]
    public async Task Languages_ListThePythonKernelspec()
    {
        var (status, body) = await _d.SendAsync(HttpMethod.Get, "/admin/code/languages");
        Assert.Equal(200, status);
        var python = body!.AsArray().OfType<JsonObject>().Single(o => (string?)o["language"] == "python");
        Assert.Equal("jupyter", (string?)python["executor"]);
        Assert.False(string.IsNullOrEmpty((string?)python["kernel"]));
        var (_, plugins) = await _d.SendAsync(HttpMethod.Get, "/admin/plugins");
        var jupyter = plugins!.AsArray().OfType<JsonObject>().Single(o => (string?)o["name"] == "Execd.Executors.Jupyter");
        Assert.Equal("Activated", (string?)jupyter["status"]);
        Assert.Contains(jupyter["languages"]!.AsArray(), l => ((string)l!).StartsWith("python (kernelspec ", StringComparison.Ordinal));
    }
}

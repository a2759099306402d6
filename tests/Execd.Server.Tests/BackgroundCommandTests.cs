using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

public sealed class BackgroundCommandTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private async Task<JsonNode> StatusAsync(string id) =>
        JsonNode.Parse(await _daemon.Client.GetStringAsync($"/command/status/{id}"))!;

    private async Task<JsonNode> WaitFinishedAsync(string id)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            var status = await StatusAsync(id);
            if (!(bool)status["running"]!)
            {
                return status;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"command {id} still running");
    }

    private async Task<(string Body, long Cursor)> LogsAsync(string id, long? cursor = null)
    {
        using var response = await _daemon.Client.GetAsync(cursor is null ? $"/command/{id}/logs" : $"/command/{id}/logs?cursor={cursor}");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var header = response.Headers.GetValues("EXECD-COMMANDS-TAIL-CURSOR").Single();
        return (await response.Content.ReadAsStringAsync(), long.Parse(header, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Background_StreamHasInitThenComplete_AndStatusIsAvailableAtOnce()
    {
        var result = await _daemon.RunAsync("echo smoke-command && sleep 1", new { background = true });

        var types = result.Events.Select(e => (string)e["type"]!).Where(t => t != "ping").ToList();
        Assert.Equal(["init", "execution_complete"], types);
        var status = await StatusAsync(result.Id!);   // registered before init: never a 404
        Assert.True((bool)status["running"]!);
        Assert.Null(status["exit_code"]);
        Assert.Null(status["finished_at"]);
        var finished = await WaitFinishedAsync(result.Id!);
        Assert.Equal(0, (int)finished["exit_code"]!);
    }

    [Fact]
    public async Task Logs_ByteCursor_ReturnsRestAndTailCursor()
    {
        var result = await _daemon.RunAsync(@"printf 'line1\nline2\n'", new { background = true });
        await WaitFinishedAsync(result.Id!);

        Assert.Equal(("line1\nline2\n", 12L), await LogsAsync(result.Id!));
        Assert.Equal(("", 12L), await LogsAsync(result.Id!, 12));
        Assert.Equal(("line2\n", 12L), await LogsAsync(result.Id!, 6));
        Assert.Equal(("", 100L), await LogsAsync(result.Id!, 100));
        Assert.Equal(("line1\nline2\n", 12L), await LogsAsync(result.Id!, null));
    }

    [Fact]
    public async Task Logs_WhileRunning_GrowAndCursorFollows()
    {
        var result = await _daemon.RunAsync("for i in 1 2 3 4 5; do echo tick$i; sleep 0.1; done", new { background = true });
        var seen = "";
        long cursor = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            var (body, next) = await LogsAsync(result.Id!, cursor);
            Assert.Equal(cursor + System.Text.Encoding.UTF8.GetByteCount(body), next);
            seen += body;
            cursor = next;
            if (!(bool)(await StatusAsync(result.Id!))["running"]! && (await LogsAsync(result.Id!, cursor)).Body.Length == 0)
            {
                break;
            }
            await Task.Delay(50);
        }
        Assert.Equal("tick1\ntick2\ntick3\ntick4\ntick5\n", seen);
    }

    [Fact]
    public async Task Background_StdoutAndStderr_BothInLogs()
    {
        var result = await _daemon.RunAsync("echo out; echo err >&2; exit 5", new { background = true });
        var status = await WaitFinishedAsync(result.Id!);

        Assert.Equal(5, (int)status["exit_code"]!);
        var (body, _) = await LogsAsync(result.Id!);
        Assert.Contains("out\n", body);
        Assert.Contains("err\n", body);
    }

    [Fact]
    public async Task Interrupt_RunningCommand_StopsItWithMinusOne()
    {
        var result = await _daemon.RunAsync("sleep 30", new { background = true });
        var watch = Stopwatch.StartNew();
        using var response = await _daemon.Client.DeleteAsync($"/command?id={result.Id}");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);

        var status = await WaitFinishedAsync(result.Id!);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Equal(-1, (int)status["exit_code"]!);
        Assert.Equal("signal: terminated", (string?)status["error"]);
    }

    [Fact]
    public async Task Interrupt_ProcessIgnoringTerm_IsKilled()
    {
        var result = await _daemon.RunAsync("trap '' TERM; sleep 30 & wait", new { background = true });
        await Task.Delay(200);
        using var response = await _daemon.Client.DeleteAsync($"/command?id={result.Id}");

        var status = await WaitFinishedAsync(result.Id!);
        Assert.Equal(-1, (int)status["exit_code"]!);
        Assert.Equal("signal: killed", (string?)status["error"]);
    }

    [Fact]
    public async Task Interrupt_ForegroundFromAnotherConnection_EndsItsStreamWithError()
    {
        using var client = _daemon.NewClient();
        var run = _daemon.RunAsync("echo started; sleep 30");
        string? id = null;
        var watch = Stopwatch.StartNew();
        while (id is null && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            id = FindRunning();
            await Task.Delay(20);
        }
        Assert.NotNull(id);
        using var response = await client.DeleteAsync($"/command?id={id}");
        Assert.Equal(200, (int)response.StatusCode);

        var result = await run;
        Assert.Equal(["started"], result.Texts("stdout"));
        Assert.Equal(-1, result.ExitCode);
    }

    private string? FindRunning()
    {
        var commands = (Execd.Core.Commands.CommandService)_daemon.Services.GetService(typeof(Execd.Core.Commands.CommandService))!;
        return commands.All.FirstOrDefault(c => c.Running && c.Spec.Command.StartsWith("echo started", StringComparison.Ordinal))?.Id;
    }

    [Fact]
    public async Task Interrupt_FinishedCommand_IsConflict()
    {
        var result = await _daemon.RunAsync("true");
        using var response = await _daemon.Client.DeleteAsync($"/command?id={result.Id}");

        Assert.Equal(409, (int)response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("RUNTIME_ERROR", (string?)body["code"]);
        Assert.Contains("is not running", (string?)body["message"]);
    }

    [Fact]
    public async Task ForegroundClientDisconnect_DoesNotStopTheCommand()
    {
        using var cts = new CancellationTokenSource();
        using var client = _daemon.NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/command") { Content = new StringContent(Daemon.Body("echo first; sleep 0.5; echo second")) };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var stream = await response.Content.ReadAsStreamAsync();
        var reader = new StreamReader(stream);
        var initLine = await reader.ReadLineAsync();
        var id = SseParser.Parse(initLine!).Single()["text"]!.GetValue<string>();
        response.Dispose();   // disconnect

        var status = await WaitFinishedAsync(id);
        Assert.Equal(0, (int)status["exit_code"]!);
        Assert.Equal(("first\nsecond\n", 13L), await LogsAsync(id));
        Assert.Equal(200, (int)(await _daemon.Client.GetAsync("/ping")).StatusCode);
    }
}

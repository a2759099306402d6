using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

/// <summary><c>"stdin": true</c>, <c>POST</c>/<c>DELETE /command/{id}/stdin</c> (issue 13 item 5).</summary>
public sealed class CommandStdinTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private Task<HttpResponseMessage> WriteAsync(string id, string text) =>
        _daemon.Client.PostAsync($"/command/{id}/stdin", new StringContent(text, Encoding.UTF8, "application/octet-stream"));

    private async Task<string> StartAsync(string command, bool stdin = true)
    {
        var result = await _daemon.RunAsync(command, new { background = true, stdin });
        return result.Id!;
    }

    private async Task<string> WaitForLogAsync(string id, Func<string, bool> done)
    {
        var watch = Stopwatch.StartNew();
        var log = "";
        while (watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            log = await _daemon.Client.GetStringAsync($"/command/{id}/logs");
            if (done(log))
            {
                return log;
            }
            await Task.Delay(30);
        }
        throw new TimeoutException("log so far: " + log);
    }

    [Fact]
    public async Task Cat_EchoesWhatIsWritten_AndClosingStdinEndsIt()
    {
        var id = await StartAsync("cat; echo cat-ended");

        using (var first = await WriteAsync(id, "hello\n"))
        {
            Assert.Equal(200, (int)first.StatusCode);
        }
        await WaitForLogAsync(id, l => l.Contains("hello\n"));
        using (var second = await WriteAsync(id, "world\n"))
        {
            Assert.Equal(200, (int)second.StatusCode);
        }
        using (var close = await _daemon.Client.DeleteAsync($"/command/{id}/stdin"))
        {
            Assert.Equal(200, (int)close.StatusCode);
        }

        var status = await _daemon.WaitFinishedAsync(id);
        Assert.Equal(0, (int)status["exit_code"]!);
        Assert.Equal("hello\nworld\ncat-ended\n", await _daemon.Client.GetStringAsync($"/command/{id}/logs"));
    }

    [Fact]
    public async Task LineOrientedServer_AnswersSeveralRequests()
    {
        var id = await StartAsync("while read -r line; do [ \"$line\" = quit ] && break; echo \"answer:${line}:${#line}\"; done; echo bye");

        for (var i = 1; i <= 3; i++)
        {
            using var response = await WriteAsync(id, $"request-{i}\n");
            Assert.Equal(200, (int)response.StatusCode);
            var expected = $"answer:request-{i}:9\n";
            await WaitForLogAsync(id, l => l.Contains(expected));
        }
        using (var quit = await WriteAsync(id, "quit\n"))
        {
            Assert.Equal(200, (int)quit.StatusCode);
        }
        await _daemon.WaitFinishedAsync(id);
        Assert.Equal("answer:request-1:9\nanswer:request-2:9\nanswer:request-3:9\nbye\n", await _daemon.Client.GetStringAsync($"/command/{id}/logs"));
    }

    [Fact]
    public async Task Errors_AreClear4xxJson()
    {
        using (var unknown = await WriteAsync("0123456789abcdef0123456789abcdef", "x"))
        {
            Assert.Equal(404, (int)unknown.StatusCode);
            Assert.Equal("NOT_FOUND", (string?)JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!["code"]);
        }

        var noStdin = await StartAsync("sleep 5", stdin: false);
        using (var refused = await WriteAsync(noStdin, "x"))
        {
            Assert.Equal(409, (int)refused.StatusCode);
            var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
            Assert.Equal("STDIN_NOT_OPEN", (string?)body["code"]);
            Assert.Contains("/dev/null", (string?)body["message"]);
        }
        await _daemon.Client.DeleteAsync($"/command?id={noStdin}");

        var finished = await StartAsync("true");
        await _daemon.WaitFinishedAsync(finished);
        using (var late = await WriteAsync(finished, "x"))
        {
            Assert.Equal(409, (int)late.StatusCode);
            Assert.Contains("finished", (string?)JsonNode.Parse(await late.Content.ReadAsStringAsync())!["message"]);
        }

        var closedTwice = await StartAsync("cat >/dev/null; sleep 5");
        using (var first = await _daemon.Client.DeleteAsync($"/command/{closedTwice}/stdin"))
        {
            Assert.Equal(200, (int)first.StatusCode);
        }
        using (var second = await _daemon.Client.DeleteAsync($"/command/{closedTwice}/stdin"))
        {
            Assert.Equal(409, (int)second.StatusCode);
        }
        using (var afterClose = await WriteAsync(closedTwice, "x"))
        {
            Assert.Equal(409, (int)afterClose.StatusCode);
        }
        await _daemon.Client.DeleteAsync($"/command?id={closedTwice}");
    }

    [Fact]
    public async Task CommandWithStdin_SeesAPipe_WithoutItDevNull()
    {
        var id = await StartAsync("readlink /proc/self/fd/0");
        await _daemon.WaitFinishedAsync(id);
        Assert.StartsWith("pipe:", await _daemon.Client.GetStringAsync($"/command/{id}/logs"));
    }
}

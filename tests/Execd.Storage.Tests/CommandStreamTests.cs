using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Execd.Storage.Tests;

/// <summary><c>GET /command/{id}/stream</c>: SSE ids are absolute offsets; resuming at any of them (or mid-line) loses and repeats nothing.</summary>
public sealed class CommandStreamTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    internal sealed record Event(long? Id, string Type, string Text);

    /// <summary>Reads a whole resumable stream: every event with the SSE id that came with it (pings dropped).</summary>
    internal static async Task<(HttpStatusCode Status, List<Event> Events, string Body)> StreamAsync(HttpClient client, string id, long? cursor = null,
        long? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, cursor is null ? $"/command/{id}/stream" : $"/command/{id}/stream?cursor={cursor}");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, Parse(body), body);
    }

    internal static List<Event> Parse(string body)
    {
        var events = new List<Event>();
        foreach (var frame in body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            long? id = null;
            JsonObject? data = null;
            foreach (var line in frame.Split('\n'))
            {
                if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = JsonNode.Parse(line[6..])!.AsObject();
                }
            }
            if (data is not null && (string)data["type"]! != "ping")
            {
                events.Add(new Event(id, (string)data["type"]!, (string?)data["text"] ?? ""));
            }
        }
        return events;
    }

    private static List<string> Lines(List<Event> events) =>
        [.. events.Where(e => e.Type is "stdout" or "stderr").Select(e => $"{e.Type}:{e.Text}")];

    [Fact]
    public async Task Stream_FinishedCommand_ResumesAtEveryBoundaryWithBothCursorForms()
    {
        var id = await _daemon.Client.StartBackgroundAsync(@"printf 'line-1\nline-2\r\n'; sleep 0.1; printf 'err-1\n' >&2; sleep 0.1; printf 'tail\nno-newline'");
        var status = await _daemon.Client.WaitFinishedAsync(id);
        var length = (long)status["output_bytes"]!;

        var (code, all, _) = await StreamAsync(_daemon.Client, id);
        Assert.Equal(HttpStatusCode.OK, code);
        string[] expected = ["stdout:line-1", "stdout:line-2", "stderr:err-1", "stdout:tail", "stdout:no-newline"];
        Assert.Equal(expected, Lines(all));
        Assert.Equal("init", all[0].Type);
        Assert.Equal(new Event(length, "execution_complete", ""), all[^1]);
        long[] ids = [.. all.Where(e => e.Type is "stdout" or "stderr").Select(e => e.Id!.Value)];
        Assert.Equal([7L, 15, 21, 26, length], ids);

        // Resuming at each id gives exactly the lines after it, with either form of the cursor.
        for (var i = 0; i < ids.Length; i++)
        {
            var (_, byQuery, _) = await StreamAsync(_daemon.Client, id, cursor: ids[i]);
            var (_, byHeader, _) = await StreamAsync(_daemon.Client, id, lastEventId: ids[i]);
            Assert.Equal(expected[(i + 1)..], Lines(byQuery));
            Assert.Equal(expected[(i + 1)..], Lines(byHeader));
            Assert.Equal("execution_complete", byQuery[^1].Type);
        }
        // Mid-line: the rest of that line, then the others.
        var (_, midLine, _) = await StreamAsync(_daemon.Client, id, cursor: 3);
        Assert.Equal(["stdout:e-1", .. expected[1..]], Lines(midLine));
        // Between the \r and the \n of a \r\n pair: the \n is not a blank line.
        var (_, midPair, _) = await StreamAsync(_daemon.Client, id, lastEventId: 14);
        Assert.Equal(expected[2..], Lines(midPair));
    }

    [Fact]
    public async Task Stream_RunningCommand_ReplaysThenFollowsLiveToTheEnd()
    {
        var id = await _daemon.Client.StartBackgroundAsync("for i in $(seq 1 20); do echo out-$i; echo err-$i >&2; sleep 0.05; done; exit 3");
        await Task.Delay(300);

        var (code, events, _) = await StreamAsync(_daemon.Client, id);

        Assert.Equal(HttpStatusCode.OK, code);
        // Each stream in order (the two pipes are read independently, so their interleaving is the reading order).
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"stdout:out-{i}"), Lines(events).Where(l => l.StartsWith("stdout:", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"stderr:err-{i}"), Lines(events).Where(l => l.StartsWith("stderr:", StringComparison.Ordinal)));
        Assert.Equal("error", events[^1].Type);
        var ids = events.Where(e => e.Type is "stdout" or "stderr").Select(e => e.Id!.Value).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public async Task Stream_ForegroundCommandAfterTheClientLeft_CanBeResumed()
    {
        var body = Daemon.Body("for i in $(seq 1 30); do echo fg-$i; sleep 0.03; done");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/command") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        string id;
        using (var response = await _daemon.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var first = await reader.ReadLineAsync();
            id = (string)JsonNode.Parse(first!["data: ".Length..])!["text"]!;
        }   // the client goes away after init

        var (_, events, _) = await StreamAsync(_daemon.Client, id);

        Assert.Equal(Enumerable.Range(1, 30).Select(i => $"stdout:fg-{i}"), Lines(events));
        Assert.Equal("execution_complete", events[^1].Type);
    }

    [Theory]
    [InlineData("?cursor=-1", null, 400)]
    [InlineData("?cursor=abc", null, 400)]
    [InlineData("?cursor=1e3", null, 400)]
    [InlineData("?cursor=99999", null, 400)]
    [InlineData(null, "x", 400)]
    [InlineData("?cursor=1", "1", 400)]
    public async Task Stream_BadCursor_IsAClear4xx(string? query, string? header, int status)
    {
        var id = await _daemon.Client.StartBackgroundAsync("echo hello");
        await _daemon.Client.WaitFinishedAsync(id);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/command/{id}/stream{query}");
        if (header is not null)
        {
            request.Headers.Add("Last-Event-ID", header);
        }

        using var response = await _daemon.Client.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("INVALID_CURSOR", (string)error["code"]!);
        Assert.False(string.IsNullOrEmpty((string?)error["message"]));
    }

    [Fact]
    public async Task Stream_UnknownOrMalformedId_Is404Or400()
    {
        using var unknown = await _daemon.Client.GetAsync("/command/0123456789abcdef0123456789abcdef/stream");
        using var malformed = await _daemon.Client.GetAsync("/command/bad.id/stream");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
    }

    [Fact]
    public async Task Stream_CursorInsideOutputDroppedByTheCap_Is410()
    {
        await using var capped = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            ["Storage:Output:MaxBytesPerCommand"] = "40000",
            ["Storage:Output:HeadBytes"] = "20000",
        });
        var id = await capped.Client.StartBackgroundAsync("head -c 200000 /dev/zero | tr '\\0' a | fold -w 99");
        var status = await capped.Client.WaitFinishedAsync(id);
        Assert.True((long)status["output_dropped_bytes"]! > 0);

        using var inside = await capped.Client.GetAsync($"/command/{id}/stream?cursor=100000");
        var (_, head, _) = await StreamAsync(capped.Client, id, cursor: 19900);

        Assert.Equal(HttpStatusCode.Gone, inside.StatusCode);
        Assert.Equal("OUTPUT_GONE", (string)JsonNode.Parse(await inside.Content.ReadAsStringAsync())!["code"]!);
        // From inside the head, the stream skips the dropped middle and ends normally.
        Assert.Equal("execution_complete", head[^1].Type);
        Assert.True(head.Count(e => e.Type == "stdout") < 1000);
    }
}

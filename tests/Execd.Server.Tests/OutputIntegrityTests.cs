using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

/// <summary>Issue 11 finding 1: no byte a command wrote is dropped, however slowly the client reads.</summary>
public sealed class OutputIntegrityTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Fact]
    public async Task SlowReadingClient_WithTinyReceiveBuffer_GetsEveryByte_AndTheLogIsComplete()
    {
        const string command = "head -c 3500000 /dev/zero | tr '\\0' c | fold -w 99; echo END; echo ERR-END >&2";
        var json = Daemon.Body(command);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, _daemon.BaseAddress.Port));
        var request = $"POST /command HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\n" +
                      $"Content-Length: {Encoding.UTF8.GetByteCount(json)}\r\nConnection: close\r\n\r\n{json}";
        await socket.SendAsync(Encoding.UTF8.GetBytes(request));

        using var stream = new NetworkStream(socket, ownsSocket: false);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (!Encoding.UTF8.GetString(received.ToArray()).Contains("\"init\"", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer);
            Assert.NotEqual(0, n);
            received.Write(buffer, 0, n);
        }
        await Task.Delay(TimeSpan.FromSeconds(5)); // the command finishes while the client does not read
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }

        var body = Dechunk(received.ToArray());
        var events = SseParser.Parse(body);
        var stdout = string.Concat(events.Where(e => (string?)e["type"] == "stdout").Select(e => (string?)e["text"]));
        var stderr = string.Concat(events.Where(e => (string?)e["type"] == "stderr").Select(e => (string?)e["text"]));
        Assert.Equal(3_500_000, stdout.Count(c => c == 'c'));
        Assert.Contains("END", stdout);
        Assert.Contains("ERR-END", stderr);
        Assert.Contains(events, e => (string?)e["type"] == "execution_complete");

        var id = (string)events.First(e => (string?)e["type"] == "init")["text"]!;
        var status = JsonNode.Parse(await _daemon.Client.GetStringAsync($"/command/status/{id}"))!;
        // 3,500,000 c, one newline per full 99-byte line, "END\n" on stdout; "ERR-END\n" on stderr.
        Assert.Equal(3_500_000 + 3_500_000 / 99 + 4 + 8, (long)status["output_bytes"]!);
        Assert.Equal(0, (int)status["exit_code"]!);
        var log = await _daemon.Client.GetStringAsync($"/command/{id}/logs");
        Assert.EndsWith("END\n", log.Replace("ERR-END\n", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ManyConcurrentBackgroundCommands_StoreEveryByte()
    {
        // The suite's share of finding 1a (the benchmark program runs 200 and 500).
        const int count = 40;
        const string command = "head -c 1048576 /dev/zero | tr '\\0' a | fold -w 1023; echo; echo \"PS=${PIPESTATUS[*]}\" >&2";
        var ids = await Task.WhenAll(Enumerable.Range(0, count).Select(async _ => (await _daemon.RunAsync(command, new { background = true })).Id!));

        foreach (var id in ids)
        {
            var status = await _daemon.WaitFinishedAsync(id, seconds: 120);
            // 1 MiB of a, a newline after every 1023 (1025), the final echo's newline, "PS=0\n" on stderr (PIPESTATUS is the echo's by then).
            Assert.Equal(1_048_576 + 1_048_576 / 1023 + 1 + 5, (long)status["output_bytes"]!);
        }
    }

    /// <summary>The HTTP/1.1 body after the headers, with chunked transfer coding removed.</summary>
    private static string Dechunk(byte[] response)
    {
        var text = Encoding.UTF8.GetString(response);
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(split > 0, text[..Math.Min(200, text.Length)]);
        var headers = text[..split];
        var raw = response.AsSpan(Encoding.UTF8.GetByteCount(text[..(split + 4)]));
        if (!headers.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            return Encoding.UTF8.GetString(raw);
        }
        var body = new MemoryStream();
        var pos = 0;
        while (pos < raw.Length)
        {
            var lineEnd = raw[pos..].IndexOf("\r\n"u8);
            var size = Convert.ToInt32(Encoding.ASCII.GetString(raw.Slice(pos, lineEnd)).Split(';')[0], 16);
            pos += lineEnd + 2;
            if (size == 0)
            {
                break;
            }
            body.Write(raw.Slice(pos, size));
            pos += size + 2;
        }
        return Encoding.UTF8.GetString(body.ToArray());
    }
}

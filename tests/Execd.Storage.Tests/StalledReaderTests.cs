using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Execd.Storage.Tests;

/// <summary>
/// Issue 11 finding 9: a foreground client that stops reading must not hold its command "running", delay storage or
/// other clients; after the stall timeout it is disconnected and can resume from its last id.
/// </summary>
[Collection(MeasuresMemory.Name)]
public sealed class StalledReaderTests
{
    [Fact]
    public async Task StalledForegroundReader_CommandCompletesOthersUnaffectedReaderDisconnectedAndCanResume()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:Streams:StalledReaderTimeout"] = "00:00:03" });
        const long size = 60_000_000;   // 60 MB of 100-byte lines
        var body = Daemon.Body($"head -c {size / 100 * 99} /dev/zero | tr '\\0' a | fold -w 99; echo; echo END; echo ERR-END >&2");

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(daemon.BaseAddress.Host, daemon.BaseAddress.Port);
        var request = $"POST /command HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
        await socket.SendAsync(Encoding.UTF8.GetBytes(request));
        var first = new byte[4096];
        var got = await socket.ReceiveAsync(first);
        var head = Encoding.UTF8.GetString(first, 0, got);
        var id = System.Text.RegularExpressions.Regex.Match(head, "\"type\":\"init\",\"text\":\"([0-9a-f]{32})\"").Groups[1].Value;
        Assert.Equal(32, id.Length);
        GC.Collect();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var watch = Stopwatch.StartNew();

        // The client reads nothing more. The command still finishes, with every byte stored.
        var status = await daemon.Client.WaitFinishedAsync(id);
        var finishedAfter = watch.Elapsed;
        Assert.Equal(0, (int)status["exit_code"]!);
        Assert.Equal(size / 100 * 100 + "END\n".Length + "ERR-END\n".Length, (long)status["output_bytes"]!);
        Assert.Null(status["output_unstored_bytes"]);
        var heapGrowth = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        Assert.True(heapGrowth < 32L << 20, $"managed heap grew by {heapGrowth} bytes while a reader stalled");
        Assert.True(finishedAfter < TimeSpan.FromSeconds(30), $"command took {finishedAfter}");

        // Another client is served meanwhile.
        var other = await daemon.RunAsync("echo other-client");
        Assert.Equal(["other-client"], other.Texts("stdout"));

        // The stalled connection is closed by the daemon within the stall timeout (plus slack); draining it ends.
        var closed = await DrainUntilClosedAsync(socket, TimeSpan.FromSeconds(30));
        Assert.True(closed, "the daemon did not disconnect the stalled reader");

        // Resuming the stream near the end gives the tail and the final event. The two pipes are read independently,
        // so ERR-END is stored where the stderr pump read it: anywhere within the stdout pump's lag (its 1 MB pipe
        // and 1 MB read buffer) before stdout's end. Resume 4 MB back so both tails are after the cursor.
        const long tail = 4_000_000;
        var (_, events, _) = await CommandStreamTests.StreamAsync(daemon.Client, id, cursor: size - tail);
        var stdout = events.Where(e => e.Type == "stdout").Select(e => e.Text).ToList();
        Assert.Equal(["ERR-END"], events.Where(e => e.Type == "stderr").Select(e => e.Text));
        Assert.Equal("END", stdout[^1]);
        Assert.All(stdout[..^1], text => Assert.Matches("^a+$", text));
        Assert.Equal(tail + "END\n".Length + "ERR-END\n".Length, stdout.Sum(text => text.Length + 1L) + "ERR-END\n".Length);
        Assert.Equal("execution_complete", events[^1].Type);
    }

    /// <summary>Waits past the stall timeout without reading, then reads until the daemon closed the connection.</summary>
    private static async Task<bool> DrainUntilClosedAsync(Socket socket, TimeSpan within)
    {
        await Task.Delay(TimeSpan.FromSeconds(5));
        var buffer = new byte[1 << 16];
        using var timeout = new CancellationTokenSource(within);
        try
        {
            for (var i = 0; i < 1_000_000; i++)
            {
                if (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException)
        {
            return true;   // reset by the daemon
        }
        catch (OperationCanceledException)
        {
        }
        return false;
    }
}

/// <summary>Tests that measure the process's managed heap run alone: other tests' allocations would be counted too.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuresMemory
{
    public const string Name = "measures memory";
}

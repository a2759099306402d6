using System.Buffers.Binary;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Pty.Tests;

/// <summary>What a client receives, decoded as upstream's test helper does (<c>pty_ws_test.go</c>).</summary>
internal sealed record Frame(string Kind, byte[] Data, long Offset = -1, JsonObject? Json = null, int? CloseStatus = null, string? CloseReason = null)
{
    public string Text => Encoding.UTF8.GetString(Data);
    public string? Type => (string?)Json?["type"];
    public override string ToString() => Kind switch
    {
        "text" => $"text {Text.TrimEnd()}",
        "close" => $"close {CloseStatus} {CloseReason}",
        _ => $"{Kind} ({Data.Length} bytes){(Offset >= 0 ? $" @{Offset}" : "")}",
    };
}

/// <summary>A third-party client of the <c>/pty</c> protocol: a real <see cref="ClientWebSocket"/>.</summary>
internal sealed class PtyClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly StringBuilder _output = new();

    private PtyClient(ClientWebSocket socket) => _socket = socket;

    public WebSocketState State => _socket.State;

    /// <summary>Everything received on 0x01/0x02/0x03 so far, as text.</summary>
    public string Output => _output.ToString();

    /// <summary>Bytes of output (replay and live) received so far.</summary>
    public long OutputBytes { get; private set; }

    /// <summary>Absolute offset just past the last output byte received (upstream's client bookkeeping).</summary>
    public long NextOffset { get; private set; } = -1;

    public List<Frame> Frames { get; } = [];

    public static Uri WsUri(Daemon daemon, string id, string query = "") =>
        new($"ws://{daemon.BaseAddress.Authority}/pty/{id}/ws{(query.Length > 0 ? "?" + query : "")}");

    public static async Task<PtyClient> ConnectAsync(Daemon daemon, string id, string query = "")
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(WsUri(daemon, id, query), timeout.Token);
        return new PtyClient(socket);
    }

    /// <summary>Tries to connect and returns the HTTP status of a refused upgrade (or 101).</summary>
    public static async Task<HttpStatusCode> TryConnectAsync(Daemon daemon, string id, string query = "")
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(WsUri(daemon, id, query), CancellationToken.None);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            return HttpStatusCode.SwitchingProtocols;
        }
        catch (WebSocketException)
        {
            return socket.HttpStatusCode;
        }
    }

    public Task SendStdinAsync(string text) => SendStdinAsync(Encoding.UTF8.GetBytes(text));

    public Task SendStdinAsync(byte[] bytes) =>
        _socket.SendAsync((byte[])[0x00, .. bytes], WebSocketMessageType.Binary, true, CancellationToken.None);

    public Task SendBinaryAsync(byte[] bytes) => _socket.SendAsync(bytes, WebSocketMessageType.Binary, true, CancellationToken.None);

    public Task SendJsonAsync(string json) => _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next frame, or a <c>close</c> frame when the server closed (1006 when it dropped the connection).</summary>
    public async Task<Frame> ReceiveAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(20));
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        WebSocketReceiveResult result;
        try
        {
            do
            {
                result = await _socket.ReceiveAsync(buffer, timeout.Token);
                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);
        }
        catch (WebSocketException)
        {
            return Add(new Frame("close", [], CloseStatus: 1006));
        }
        catch (OperationCanceledException)
        {
            // Cancelling a receive aborts a ClientWebSocket: the connection is over either way.
            return Add(new Frame("close", [], CloseStatus: 1006, CloseReason: "timed out waiting"));
        }
        if (result.MessageType == WebSocketMessageType.Close)
        {
            if (_socket.State == WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            }
            return Add(new Frame("close", [], CloseStatus: (int?)result.CloseStatus, CloseReason: result.CloseStatusDescription));
        }
        var data = message.ToArray();
        if (result.MessageType == WebSocketMessageType.Text)
        {
            return Add(new Frame("text", data, Json: JsonNode.Parse(data)!.AsObject()));
        }
        Assert.NotEmpty(data);
        switch (data[0])
        {
            case 0x01:
                return AddOutput(new Frame("stdout", data[1..]));
            case 0x02:
                return AddOutput(new Frame("stderr", data[1..]));
            case 0x03:
                Assert.True(data.Length >= 9, "a replay frame is at least 9 bytes");
                var offset = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(1, 8));
                NextOffset = offset;
                return AddOutput(new Frame("replay", data[9..], offset));
            default:
                throw new InvalidDataException($"unknown server channel 0x{data[0]:x2}");
        }
    }

    private Frame Add(Frame frame)
    {
        Frames.Add(frame);
        return frame;
    }

    private Frame AddOutput(Frame frame)
    {
        _output.Append(frame.Text);
        OutputBytes += frame.Data.Length;
        if (NextOffset >= 0)
        {
            NextOffset += frame.Data.Length;
        }
        return Add(frame);
    }

    /// <summary>Reads frames until the JSON frame of <paramref name="type"/>; fails on a close first.</summary>
    public async Task<Frame> ExpectJsonAsync(string type, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero, $"no {type} frame in time; got: {string.Join(" | ", Frames.TakeLast(8))}");
            var frame = await ReceiveAsync(left);
            if (frame.Type == type)
            {
                return frame;
            }
            Assert.True(frame.Kind != "close", $"closed before a {type} frame: {frame}; got: {string.Join(" | ", Frames.TakeLast(8))}");
        }
    }

    /// <summary>Reads until the output (all channels, from the start) contains <paramref name="marker"/>.</summary>
    public async Task ExpectOutputAsync(string marker, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (!Output.Contains(marker, StringComparison.Ordinal))
        {
            var left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero, $"no \"{marker}\" in time; output so far: {Tail(Output)}");
            var frame = await ReceiveAsync(left);
            Assert.True(frame.Kind != "close", $"closed before \"{marker}\": {frame}; output: {Tail(Output)}");
        }
    }

    /// <summary>Reads until the socket closes; returns the close frame.</summary>
    public async Task<Frame> ExpectCloseAsync(TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            Assert.True(left > TimeSpan.Zero, $"not closed in time; got: {string.Join(" | ", Frames.TakeLast(8))}");
            var frame = await ReceiveAsync(left);
            if (frame.Kind == "close")
            {
                return frame;
            }
        }
    }

    /// <summary>Connects and reads up to and including <c>connected</c>.</summary>
    public static async Task<PtyClient> AttachAsync(Daemon daemon, string id, string query = "")
    {
        var client = await ConnectAsync(daemon, id, query);
        await client.ExpectJsonAsync("connected");
        return client;
    }

    public async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
            }
        }
    }

    private static string Tail(string s) => s.Length <= 400 ? s : "…" + s[^400..];

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _socket.Dispose();
    }
}

/// <summary>The REST calls of <c>/pty</c>.</summary>
internal static class PtyRest
{
    public static async Task<string> CreatePtyAsync(this Daemon daemon, string? json = null)
    {
        using var content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await daemon.Client.PostAsync("/pty", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!["session_id"]!.GetValue<string>();
    }

    public static async Task<(int Status, string Body)> PostPtyAsync(this Daemon daemon, string json)
    {
        using var response = await daemon.Client.PostAsync("/pty", new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static async Task<JsonObject> PtyStatusAsync(this Daemon daemon, string id)
    {
        using var response = await daemon.Client.GetAsync($"/pty/{id}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    public static async Task<(int Status, string Body)> GetAsync(this Daemon daemon, string path)
    {
        using var response = await daemon.Client.GetAsync(path);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static async Task<(int Status, string Body)> DeletePtyAsync(this Daemon daemon, string id)
    {
        using var response = await daemon.Client.DeleteAsync($"/pty/{id}");
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Polls status until <paramref name="done"/> holds (bounded).</summary>
    public static async Task<JsonObject> WaitStatusAsync(this Daemon daemon, string id, Func<JsonObject, bool> done, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var status = await daemon.PtyStatusAsync(id);
            if (done(status))
            {
                return status;
            }
            Assert.True(DateTime.UtcNow < deadline, $"status never matched: {status.ToJsonString()}");
            await Task.Delay(50);
        }
    }
}

/// <summary>One daemon for a test class.</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    public Daemon Daemon { get; private set; } = null!;

    public async Task InitializeAsync() => Daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await Daemon.DisposeAsync();
}

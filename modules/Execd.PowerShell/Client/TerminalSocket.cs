using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Execd.PowerShell.Client;

/// <summary>
/// The client side of <c>GET /pty/{id}/ws</c> (the daemon's README, "Terminals"): binary <c>0x00</c> stdin out,
/// <c>0x01</c>/<c>0x02</c> output and <c>0x03</c> replay in (8-byte big-endian offset, then bytes), JSON
/// <c>connected</c>/<c>exit</c>/<c>error</c> in and <c>resize</c> out.
/// </summary>
internal sealed class TerminalSocket : IAsyncDisposable
{
    private const byte Stdin = 0x00;
    private const byte Replay = 0x03;
    private const int ReplayHeader = 9;

    private readonly ClientWebSocket _socket;
    private readonly SemaphoreSlim _send = new(1, 1);

    private TerminalSocket(ClientWebSocket socket) => _socket = socket;

    /// <summary>The close code the daemon ended with (1000 after <c>exit</c>, 4001 taken over, …), once closed.</summary>
    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public string? CloseDescription => _socket.CloseStatusDescription;

    /// <summary>Connects, or throws an <see cref="ExecdException"/> built from the refused upgrade's JSON answer.</summary>
    public static async Task<TerminalSocket> ConnectAsync(ExecdClient client, string id, long? since, bool takeover, CancellationToken cancel)
    {
        var query = new List<string>();
        if (since is { } s)
        {
            query.Add("since=" + s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        if (takeover)
        {
            query.Add("takeover=1");
        }
        var http = new Uri(client.Uri, $"pty/{Uri.EscapeDataString(id)}/ws{(query.Count > 0 ? "?" + string.Join('&', query) : "")}");
        var ws = new UriBuilder(http) { Scheme = http.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        socket.Options.Proxy = null;
        if (client.Connection.AccessToken is { Length: > 0 } token)
        {
            socket.Options.SetRequestHeader(ExecdClient.TokenHeader, token);
        }
        try
        {
            await socket.ConnectAsync(ws, cancel).ConfigureAwait(false);
            return new TerminalSocket(socket);
        }
        catch (WebSocketException ex) when (socket.HttpStatusCode is not 0 and not System.Net.HttpStatusCode.SwitchingProtocols)
        {
            // ClientWebSocket does not expose a refused upgrade's body ({"code","message"}); the status says enough.
            var status = socket.HttpStatusCode;
            socket.Dispose();
            var (code, message) = status switch
            {
                System.Net.HttpStatusCode.NotFound => ("CONTEXT_NOT_FOUND", $"pty session {id} not found"),
                System.Net.HttpStatusCode.Conflict => ("ALREADY_CONNECTED", $"another client is attached to pty session {id}; -Takeover takes it over"),
                _ => ((string?)null, ex.Message),
            };
            throw ExecdException.FromResponse(client.Uri, status, code, message);
        }
        catch (WebSocketException ex)
        {
            socket.Dispose();
            throw ExecdException.Unreachable(client.Uri, ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends keys or text to the shell (a <c>0x00</c> frame).</summary>
    public async Task SendInputAsync(ReadOnlyMemory<byte> data, CancellationToken cancel)
    {
        var frame = ArrayPool<byte>.Shared.Rent(data.Length + 1);
        try
        {
            frame[0] = Stdin;
            data.Span.CopyTo(frame.AsSpan(1));
            await SendAsync(frame.AsMemory(0, data.Length + 1), WebSocketMessageType.Binary, cancel).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    public Task SendResizeAsync(int columns, int rows, CancellationToken cancel) =>
        SendAsync(JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["type"] = "resize", ["cols"] = columns, ["rows"] = rows }), WebSocketMessageType.Text, cancel);

    private async Task SendAsync(ReadOnlyMemory<byte> message, WebSocketMessageType type, CancellationToken cancel)
    {
        await _send.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            await _socket.SendAsync(message, type, endOfMessage: true, cancel).ConfigureAwait(false);
        }
        finally
        {
            _send.Release();
        }
    }

    /// <summary>
    /// Reads frames until the daemon closes the socket: output bytes (replay included) go to
    /// <paramref name="output"/> with their channel (1 stdout, 2 stderr; replay as 1), <c>connected</c> to
    /// <paramref name="connected"/>. Returns how it ended: the <c>exit</c> frame's code (none when the socket closed
    /// without one: detached, taken over), the last <c>error</c> frame, and the close code.
    /// </summary>
    public async Task<TerminalEnd> ReceiveAsync(Action<byte, ReadOnlyMemory<byte>> output, Action connected, CancellationToken cancel)
    {
        var buffer = new byte[64 * 1024];
        using var text = new MemoryStream();
        int? exitCode = null;
        string? error = null;
        var inputRacedExit = false;
        // Input that reached the daemon after the shell exited (the end-of-file after piped lines ending in `exit`, say) is refused
        // with STDIN_WRITE_FAILED; with the shell's exit frame also there (in either order), that is how the session ended, not a failure.
        TerminalEnd End() => new(exitCode, inputRacedExit && exitCode is not null ? null : error, _socket.CloseStatus, _socket.CloseStatusDescription);
        var replayHeader = -1; // bytes of a replay message's header still to skip; -1 when not in a replay message
        var channel = (byte)0;
        while (true)
        {
            ValueWebSocketReceiveResult result;
            try
            {
                result = await _socket.ReceiveAsync(buffer.AsMemory(), cancel).ConfigureAwait(false);
            }
            catch (WebSocketException) when (_socket.State is WebSocketState.Aborted or WebSocketState.Closed)
            {
                return End();
            }
            if (result.MessageType == WebSocketMessageType.Close)
            {
                if (_socket.State == WebSocketState.CloseReceived)
                {
                    await CloseOutputAsync(WebSocketCloseStatus.NormalClosure, cancel).ConfigureAwait(false);
                }
                return End();
            }
            var data = buffer.AsMemory(0, result.Count);
            if (result.MessageType == WebSocketMessageType.Text)
            {
                text.Write(data.Span);
                if (result.EndOfMessage)
                {
                    var frame = ParseJson(text.ToArray());
                    text.SetLength(0);
                    switch ((string?)frame?["type"])
                    {
                        case "connected":
                            connected();
                            break;
                        case "exit":
                            exitCode = (int?)frame!["exit_code"];
                            break;
                        case "error":
                            error = $"{(string?)frame!["error"]} ({(string?)frame["code"]})";
                            inputRacedExit = (string?)frame["code"] == "STDIN_WRITE_FAILED";
                            break;
                    }
                }
                continue;
            }
            // Binary: a message may arrive in fragments (the daemon streams a replay as one message in 32 KiB
            // fragments); the channel byte and the replay offset are at the start of the message only.
            if (channel == 0)
            {
                if (data.IsEmpty)
                {
                    continue;
                }
                channel = data.Span[0];
                data = data[1..];
                replayHeader = channel == Replay ? ReplayHeader - 1 : -1;
            }
            if (replayHeader > 0)
            {
                var skip = Math.Min(replayHeader, data.Length);
                data = data[skip..];
                replayHeader -= skip;
            }
            if (!data.IsEmpty)
            {
                output(channel == Replay ? (byte)1 : channel, data);
            }
            if (result.EndOfMessage)
            {
                channel = 0;
            }
        }
    }

    private static JsonNode? ParseJson(byte[] text)
    {
        try
        {
            return JsonNode.Parse(Encoding.UTF8.GetString(text));
        }
        catch (JsonException)
        {
            return null; // not JSON: not a frame of this protocol, so nothing to act on
        }
    }

    /// <summary>Leaves the terminal running: a normal close from this side.</summary>
    public async Task DetachAsync(CancellationToken cancel)
    {
        if (_socket.State == WebSocketState.Open)
        {
            await CloseOutputAsync(WebSocketCloseStatus.NormalClosure, cancel).ConfigureAwait(false);
        }
    }

    private async Task CloseOutputAsync(WebSocketCloseStatus status, CancellationToken cancel)
    {
        try
        {
            await _socket.CloseOutputAsync(status, "", cancel).ConfigureAwait(false);
        }
        catch (WebSocketException)
        {
            // The daemon is already gone: nothing left to tell it.
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _send.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>How an attachment ended: the shell's exit code (when it exited), an <c>error</c> frame, the close code.</summary>
internal sealed record TerminalEnd(int? ExitCode, string? Error, WebSocketCloseStatus? CloseStatus, string? CloseDescription);

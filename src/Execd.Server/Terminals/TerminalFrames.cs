using System.Text;
using System.Text.Json;

namespace Execd.Server.Terminals;

/// <summary>The <c>/pty</c> WebSocket protocol's frames (upstream's <c>pty_ws.go</c>), both directions.</summary>
internal static class TerminalFrames
{
    public const byte Stdin = 0x00;
    public const byte Stdout = 0x01;
    public const byte Stderr = 0x02;
    public const byte Replay = 0x03;

    /// <summary>Live output payloads are cut at this size, as upstream.</summary>
    public const int MaxOutputPayload = 32 * 1024;

    public const int TakenOver = 4001;

    /// <summary>The signal names a <c>signal</c> frame may carry (upstream's five, plus a few common ones).</summary>
    public static readonly IReadOnlyDictionary<string, int> Signals = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["SIGHUP"] = 1, ["SIGINT"] = 2, ["SIGQUIT"] = 3, ["SIGKILL"] = 9, ["SIGUSR1"] = 10, ["SIGUSR2"] = 12,
        ["SIGTERM"] = 15, ["SIGCONT"] = 18, ["SIGSTOP"] = 19, ["SIGTSTP"] = 20, ["SIGWINCH"] = 28,
    };

    public static byte[] Connected(string sessionId, TerminalMode mode) => Json(w =>
    {
        w.WriteString("type", "connected");
        w.WriteString("session_id", sessionId);
        w.WriteString("mode", mode == TerminalMode.Pty ? "pty" : "pipe");
    });

    public static byte[] Pong() => Json(w => w.WriteString("type", "pong"));

    public static byte[] Exit(int code) => Json(w =>
    {
        w.WriteString("type", "exit");
        w.WriteNumber("exit_code", code);
    });

    public static byte[] Error(string code, string message) => Json(w =>
    {
        w.WriteString("type", "error");
        w.WriteString("error", message);
        w.WriteString("code", code);
    });

    // Like gorilla's encoder (upstream), each text frame ends with a newline.
    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>A client's JSON frame: <c>{type, data, cols, rows, signal}</c>, keys case-insensitive.</summary>
    public sealed record ClientFrame(string Type, string? Data, long? Cols, long? Rows, string? Signal);

    /// <summary>Parses a client text frame; returns an error text instead when it is not such an object.</summary>
    public static ClientFrame? Parse(ReadOnlySpan<byte> text, out string? error)
    {
        error = null;
        try
        {
            using var doc = JsonDocument.Parse(text.ToArray());
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "a JSON frame must be an object";
                return null;
            }
            string? type = null, data = null, signal = null;
            long? cols = null, rows = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                switch (p.Name.ToLowerInvariant())
                {
                    case "type": type = String(p); break;
                    case "data": data = String(p); break;
                    case "signal": signal = String(p); break;
                    case "cols": cols = Integer(p); break;
                    case "rows": rows = Integer(p); break;
                }
            }
            if (type is null)
            {
                error = "a JSON frame needs a string \"type\"";
                return null;
            }
            return new ClientFrame(type, data, cols, rows, signal);
        }
        catch (JsonException ex)
        {
            error = $"malformed JSON frame: {ex.Message}";
            return null;
        }
        catch (FormatException ex)
        {
            error = ex.Message;
            return null;
        }
    }

    private static string? String(JsonProperty p) => p.Value.ValueKind switch
    {
        JsonValueKind.String => p.Value.GetString(),
        JsonValueKind.Null => null,
        _ => throw new FormatException($"\"{p.Name}\" must be a string"),
    };

    private static long? Integer(JsonProperty p) => p.Value.ValueKind switch
    {
        JsonValueKind.Number when p.Value.TryGetInt64(out var v) => v,
        JsonValueKind.Null => null,
        _ => throw new FormatException($"\"{p.Name}\" must be an integer"),
    };

    public static string Describe(ReadOnlySpan<byte> text) => Encoding.UTF8.GetString(text[..Math.Min(text.Length, 64)]);
}

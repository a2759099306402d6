using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Execd.Server.Streaming;

/// <summary>
/// Writes execd stream events (<c>init</c>, <c>stdout</c>, <c>error</c>, …) as compact JSON straight into
/// the response's pipe, one frame per event: <c>data: {json}\n\n</c> (standard SSE) or upstream's bare
/// <c>{json}\n\n</c>. Nothing reaches the network until <see cref="FlushAsync"/>, so a burst of events
/// goes out in one write. Field order is upstream's: type, text, execution_time, timestamp, error.
/// </summary>
public sealed class EventStreamWriter
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] FrameEnd = "\n\n"u8.ToArray();
    private static readonly byte[] BlankLineText = "\n"u8.ToArray();

    // Fast path for output lines: bytes that come out of the JSON writer unchanged (printable ASCII but
    // '"' and '\\') are copied straight into the response; anything else takes the writer.
    private static readonly SearchValues<byte> NotVerbatim = SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(b => (byte)b), (byte)'"', (byte)'\\', .. Enumerable.Range(0x7F, 0x81).Select(b => (byte)b)]);
    private static readonly byte[] StdoutHead = "{\"type\":\"stdout\",\"text\":\""u8.ToArray();
    private static readonly byte[] StderrHead = "{\"type\":\"stderr\",\"text\":\""u8.ToArray();
    private static readonly byte[] TimestampKey = "\",\"timestamp\":"u8.ToArray();
    private static readonly byte[] FrameTail = "}\n\n"u8.ToArray();
    private const int MaxVerbatimLine = 16 * 1024;

    private readonly PipeWriter _pipe;
    private readonly bool _raw;
    private readonly TimeProvider _time;
    private readonly Utf8JsonWriter _json;
    private readonly TimeSpan _stallTimeout;
    private readonly Action? _onStall;
    private CancellationTokenSource? _stall;

    /// <param name="pipe">The response body.</param>
    /// <param name="raw">Upstream's bare framing instead of <c>data: </c> lines.</param>
    /// <param name="time">Clock for timestamps.</param>
    /// <param name="stallTimeout">A flush that makes no progress for this long is a stalled reader: <paramref name="onStall"/> runs
    /// (it disconnects the client) and the flush throws <see cref="OperationCanceledException"/>. Infinite by default.</param>
    /// <param name="onStall">What to do with a stalled reader.</param>
    public EventStreamWriter(PipeWriter pipe, bool raw, TimeProvider time, TimeSpan? stallTimeout = null, Action? onStall = null)
    {
        _pipe = pipe;
        _raw = raw;
        _time = time;
        _json = new Utf8JsonWriter(pipe, Options);
        _stallTimeout = stallTimeout ?? Timeout.InfiniteTimeSpan;
        _onStall = onStall;
    }

    /// <summary>A writer on <paramref name="http"/>'s response that disconnects a reader stalled past <see cref="StreamOptions.StalledReaderTimeout"/>.</summary>
    public static EventStreamWriter For(HttpContext http, bool raw, TimeProvider time)
    {
        var options = http.RequestServices.GetService<Microsoft.Extensions.Options.IOptions<StreamOptions>>()?.Value ?? new StreamOptions();
        return new EventStreamWriter(http.Response.BodyWriter, raw, time, options.StalledReaderTimeout, http.Abort);
    }

    /// <summary>The SSE <c>id:</c> of the next event (SSE framing only; upstream's bare framing has no ids).</summary>
    public void EventId(long offset)
    {
        if (_raw)
        {
            return;
        }
        var span = _pipe.GetSpan(32);
        "id: "u8.CopyTo(span);
        Utf8Formatter.TryFormat(offset, span[4..], out var written);
        span[4 + written] = (byte)'\n';
        _pipe.Advance(5 + written);
        Unflushed += 5 + written;
    }

    public static void SetHeaders(HttpResponse response)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers.Connection = "keep-alive";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public void Init(string id) => Simple("init", Encoding.UTF8.GetBytes(id));

    public void Ping() => Simple("ping", "pong"u8);

    /// <summary>One output line; an empty line is sent as upstream's blank-line text <c>"\n"</c>.</summary>
    public void Line(bool stderr, ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line.Length > MaxVerbatimLine || line.ContainsAny(NotVerbatim))
        {
            Simple(stderr ? "stderr" : "stdout", line.IsEmpty ? BlankLineText : line);
            return;
        }
        // The same bytes the JSON writer produces, in one span of the response pipe and no per-line work
        // beyond the copy (this is the hot path of streaming: one call per output line).
        var head = stderr ? StderrHead : StdoutHead;
        var span = _pipe.GetSpan(DataPrefix.Length + head.Length + line.Length + TimestampKey.Length + 20 + FrameTail.Length);
        var at = 0;
        if (!_raw)
        {
            DataPrefix.CopyTo(span);
            at = DataPrefix.Length;
        }
        head.CopyTo(span[at..]);
        at += head.Length;
        line.CopyTo(span[at..]);
        at += line.Length;
        TimestampKey.CopyTo(span[at..]);
        at += TimestampKey.Length;
        Utf8Formatter.TryFormat(Now(), span[at..], out var written);
        at += written;
        FrameTail.CopyTo(span[at..]);
        _pipe.Advance(at + FrameTail.Length);
        Unflushed += at + FrameTail.Length;
    }

    public void Complete(long executionTimeMs)
    {
        Begin("execution_complete");
        if (executionTimeMs > 0)
        {
            _json.WriteNumber("execution_time"u8, executionTimeMs);
        }
        _json.WriteNumber("timestamp"u8, Now());
        End();
    }

    public void Error(string evalue, string traceback, string ename = "CommandExecError") => Error(ename, evalue, [traceback]);

    /// <summary>Code runs: kernel text exactly as chunked (not split into lines).</summary>
    public void Text(bool stderr, string text) => Simple(stderr ? "stderr" : "stdout", Encoding.UTF8.GetBytes(text));

    /// <summary>Code runs: <c>status</c> (upstream sends <c>error</c> just before an <c>error</c> event).</summary>
    public void Status(string text) => Simple("status", Encoding.UTF8.GetBytes(text));

    /// <summary>Code runs: the expression's execution count, just before its <c>result</c>.</summary>
    public void ExecutionCount(int count)
    {
        Begin("execution_count");
        _json.WriteNumber("execution_count"u8, count);
        _json.WriteNumber("timestamp"u8, Now());
        End();
    }

    /// <summary>Code runs: a MIME bundle, with <c>text/plain</c> renamed to <c>text</c> as upstream; other keys as they are.</summary>
    public void Result(IReadOnlyDictionary<string, System.Text.Json.JsonElement> data)
    {
        Begin("result");
        _json.WriteNumber("timestamp"u8, Now());
        _json.WriteStartObject("results"u8);
        foreach (var (mime, value) in data)
        {
            _json.WritePropertyName(mime == "text/plain" ? "text" : mime);
            value.WriteTo(_json);
        }
        _json.WriteEndObject();
        End();
    }

    /// <summary>Code runs: an error with the kernel's own name, value and traceback lines.</summary>
    public void Error(string ename, string evalue, IReadOnlyList<string> traceback)
    {
        Begin("error");
        _json.WriteNumber("timestamp"u8, Now());
        _json.WriteStartObject("error"u8);
        _json.WriteString("ename"u8, ename);
        _json.WriteString("evalue"u8, evalue);
        _json.WriteStartArray("traceback"u8);
        foreach (var line in traceback)
        {
            _json.WriteStringValue(line);
        }
        _json.WriteEndArray();
        _json.WriteEndObject();
        End();
    }

    /// <summary>Bytes written since the last flush: callers flush once this passes a bound, so a burst never piles up in memory.</summary>
    public long Unflushed { get; private set; }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        Unflushed = 0;
        if (_stallTimeout == Timeout.InfiniteTimeSpan)
        {
            await _pipe.FlushAsync(cancellationToken);
            return;
        }
        // One timer re-armed per flush (not a new token source per flush: this is the streaming hot path).
        _stall ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _stall.CancelAfter(_stallTimeout);
        try
        {
            await _pipe.FlushAsync(_stall.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _onStall?.Invoke();
            throw;
        }
        finally
        {
            if (!_stall.IsCancellationRequested)
            {
                _stall.CancelAfter(Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void Simple(string type, ReadOnlySpan<byte> text)
    {
        Begin(type);
        if (Utf8.IsValid(text))
        {
            _json.WriteString("text"u8, text);
        }
        else
        {
            _json.WriteString("text"u8, Encoding.UTF8.GetString(text)); // invalid bytes become U+FFFD
        }
        _json.WriteNumber("timestamp"u8, Now());
        End();
    }

    private void Begin(string type)
    {
        if (!_raw)
        {
            _pipe.Write(DataPrefix.AsSpan());
        }
        _json.Reset(_pipe);
        _json.WriteStartObject();
        _json.WriteString("type"u8, type);
    }

    private void End()
    {
        _json.WriteEndObject();
        _json.Flush();
        _pipe.Write(FrameEnd.AsSpan());
        Unflushed += _json.BytesCommitted + FrameEnd.Length + (_raw ? 0 : DataPrefix.Length);
    }

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();
}

using System.Buffers;
using System.Globalization;
using Execd.Core.Commands;

namespace Execd.Server.Streaming;

/// <summary>
/// The event stream of one command: <c>init</c>, <c>ping</c> every 3 s, output lines split with upstream's
/// rules, then <c>execution_complete</c> or <c>error</c>. Shared by <c>/command</c>, session runs and the
/// resumable <c>GET /command/{id}/stream</c>.
/// </summary>
public static class CommandEventStream
{
    private const int FlushThreshold = 64 * 1024;
    private static readonly TimeSpan PingEvery = TimeSpan.FromSeconds(3);

    /// <summary>Background: <c>init</c>, <c>ping</c>, then <c>execution_complete</c> once the command runs (or <c>error</c> if it could not start).</summary>
    public static async Task BackgroundAsync(CommandRecord record, EventStreamWriter events, CancellationToken aborted)
    {
        try
        {
            events.Init(record.Id);
            events.Ping();
            await events.FlushAsync(aborted);
            var pid = await record.Started.WaitAsync(aborted);
            if (pid is null && record.StartFailed)
            {
                var exit = await record.Finished;
                events.Error(exit.Error ?? "start failed", exit.Error ?? "start failed");
            }
            else
            {
                events.Complete((long)(DateTimeOffset.UtcNow - record.StartedAt).TotalMilliseconds);
            }
            await events.FlushAsync(aborted);
        }
        catch (OperationCanceledException)
        {
            // The client went away; a background command goes on regardless.
        }
    }

    /// <summary>
    /// Foreground: every output line as it arrives, then how the command ended. A disconnect (or a reader stalled
    /// past the stall timeout) leaves the command running. <paramref name="initText"/> replaces the command id in
    /// <c>init</c> (session runs send the session id, as upstream). Each stream is split into lines on its own, as upstream.
    /// </summary>
    public static async Task ForegroundAsync(CommandRecord record, OutputReader live, EventStreamWriter events,
        TimeProvider time, CancellationToken aborted, string? initText = null)
    {
        var stdout = new LineSplitter();
        var stderr = new LineSplitter();
        LineSplitter.LineHandler stdoutLine = line => events.Line(false, line);
        LineSplitter.LineHandler stderrLine = line => events.Line(true, line);
        using var pings = time.CreateTimer(_ => live.Tick(), null, PingEvery, PingEvery);
        try
        {
            events.Init(initText ?? record.Id);
            events.Ping();
            await events.FlushAsync(aborted);
            while (await live.NextAsync(aborted) is { } piece)
            {
                if (piece.IsTick)
                {
                    events.Ping();
                }
                else
                {
                    var isErr = piece.Stream == OutputStream.Stderr;
                    (isErr ? stderr : stdout).Process(piece.Data.Span, isErr ? stderrLine : stdoutLine);
                }
                // Several pieces go out in one flush, but a bounded one: a piece of short lines grows several times
                // as events, and a whole burst of them must not sit in memory.
                if (events.Unflushed >= FlushThreshold || piece.IsTick || !live.HasQueued)
                {
                    await events.FlushAsync(aborted);
                }
            }
            stdout.Flush(stdoutLine);
            stderr.Flush(stderrLine);
            await FinalEventAsync(record, events, time, aborted, id: null);
        }
        catch (OperationCanceledException)
        {
            // Client disconnected or stalled: the command keeps running (as upstream); status, logs and the
            // resumable stream still have it.
        }
        finally
        {
            live.Dispose();
        }
    }

    /// <summary>
    /// The resumable stream: the same events, each output line with an SSE <c>id:</c> that is the absolute offset just
    /// past its bytes, so resuming at that offset continues with the next line. Bytes are split into lines within each
    /// run of one stream: a partial line is sent when the other stream takes over (so every event is one contiguous
    /// byte range). The final event's id is the output's length.
    /// </summary>
    public static async Task ResumableAsync(CommandRecord record, OutputReader reader, EventStreamWriter events,
        TimeProvider time, CancellationToken aborted)
    {
        var lines = new OffsetLineSplitter(events);
        using var pings = time.CreateTimer(_ => reader.Tick(), null, PingEvery, PingEvery);
        try
        {
            events.Init(record.Id);
            events.Ping();
            await events.FlushAsync(aborted);
            lines.StartAt(record.Log, reader.Position);
            while (await reader.NextAsync(aborted) is { } piece)
            {
                if (piece.IsTick)
                {
                    events.Ping();
                }
                else
                {
                    lines.Process(piece);
                }
                if (events.Unflushed >= FlushThreshold || piece.IsTick || !reader.HasQueued)
                {
                    await events.FlushAsync(aborted);
                }
            }
            lines.Flush();
            await FinalEventAsync(record, events, time, aborted, id: record.Log.Length);
        }
        catch (OperationCanceledException)
        {
            // Client went away or stalled: it resumes from the last id it received.
        }
        finally
        {
            reader.Dispose();
        }
    }

    private static async Task FinalEventAsync(CommandRecord record, EventStreamWriter events, TimeProvider time, CancellationToken aborted, long? id)
    {
        var exit = await record.Finished.WaitAsync(aborted);
        var elapsed = (long)((record.FinishedAt ?? time.GetUtcNow()) - record.StartedAt).TotalMilliseconds;
        if (id is { } offset)
        {
            events.EventId(offset);
        }
        if (record.StartFailed)
        {
            events.Error(exit.Error ?? "start failed", exit.Error ?? "start failed");
        }
        else if (exit.ExitCode == 0)
        {
            events.Complete(Math.Max(elapsed, 1));
        }
        else
        {
            events.Error(exit.ExitCode.ToString(CultureInfo.InvariantCulture), exit.Error ?? $"exit status {exit.ExitCode}");
        }
        await events.FlushAsync(aborted);
    }

    /// <summary>
    /// Upstream's line rules (<c>\n</c>, <c>\r</c>, <c>\r\n</c> once; long lines in pieces) over absolute offsets, within one
    /// stream run at a time: each line goes out with the offset just past it (its terminator included).
    /// </summary>
    private sealed class OffsetLineSplitter(EventStreamWriter events)
    {
        private readonly ArrayBufferWriter<byte> _pending = new(256);
        private OutputStream _stream = OutputStream.Stdout;
        private bool _lastWasCr;

        /// <summary>Resuming right after a <c>\r</c> of a <c>\r\n</c> pair: the <c>\n</c> belongs to the line already sent.</summary>
        public void StartAt(OutputLog log, long position)
        {
            if (position == 0)
            {
                return;
            }
            Span<byte> before = stackalloc byte[1];
            if (log.Read(position - 1, before, out var at) == 1 && at == position - 1 && before[0] == (byte)'\r')
            {
                _stream = log.StreamAt(position - 1).Stream;
                _lastWasCr = true;
            }
        }

        public void Process(OutputPiece piece)
        {
            if (piece.Stream != _stream)
            {
                Flush();
                _stream = piece.Stream;
            }
            var data = piece.Data.Span;
            var offset = piece.Offset;
            while (!data.IsEmpty)
            {
                if (_lastWasCr)
                {
                    _lastWasCr = false;
                    if (data[0] == (byte)'\n')
                    {
                        data = data[1..];
                        offset++;
                        continue;
                    }
                }
                var end = data.IndexOfAny((byte)'\n', (byte)'\r');
                if (end < 0)
                {
                    Hold(data, offset);
                    return;
                }
                // A \r\n in the same piece is one terminator: the id is past both bytes.
                var terminator = data[end] == (byte)'\r' && end + 1 < data.Length && data[end + 1] == (byte)'\n' ? 2 : 1;
                _lastWasCr = terminator == 1 && data[end] == (byte)'\r';
                Emit(data[..end], offset + end + terminator);
                data = data[(end + terminator)..];
                offset += end + terminator;
            }
        }

        public void Flush()
        {
            _lastWasCr = false;
            if (_pending.WrittenCount > 0)
            {
                events.EventId(_pendingEnd);
                events.Line(_stream == OutputStream.Stderr, _pending.WrittenSpan);
                _pending.ResetWrittenCount();
            }
        }

        private long _pendingEnd;

        private void Emit(ReadOnlySpan<byte> tail, long endOffset)
        {
            events.EventId(endOffset);
            if (_pending.WrittenCount == 0)
            {
                events.Line(_stream == OutputStream.Stderr, tail);
                return;
            }
            _pending.Write(tail);
            events.Line(_stream == OutputStream.Stderr, _pending.WrittenSpan);
            _pending.ResetWrittenCount();
        }

        private void Hold(ReadOnlySpan<byte> data, long offset)
        {
            while (_pending.WrittenCount + data.Length > LineSplitter.MaxLineBytes)
            {
                var take = LineSplitter.MaxLineBytes - _pending.WrittenCount;
                _pending.Write(data[..take]);
                offset += take;
                events.EventId(offset);
                events.Line(_stream == OutputStream.Stderr, _pending.WrittenSpan);
                _pending.ResetWrittenCount();
                data = data[take..];
            }
            _pending.Write(data);
            _pendingEnd = offset + data.Length;
        }
    }
}

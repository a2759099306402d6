using System.Buffers;
using System.Net.WebSockets;
using Execd.Core.Commands;
using Execd.Core.Terminals;

namespace Execd.Server.Terminals;

/// <summary>
/// One WebSocket attached to a terminal. It sends the replay (one message, streamed in fragments), then
/// <c>connected</c>, then live output read from the terminal's output log at this connection's own pace: a
/// slow or stalled client only falls behind (and is dropped after <see cref="TerminalOptions.SendTimeout"/>),
/// the shell and other connections never wait for it. The <c>exit</c> frame is sent only after every byte
/// before it. Every way the connection ends closes the socket with a close code when the client can still
/// receive one.
/// </summary>
internal sealed class TerminalConnection(WebSocket socket, TerminalSession session, TerminalService terminals, TimeProvider time, ILogger logger)
{
    private const int ReceiveChunk = 64 * 1024;
    private static readonly TimeSpan CloseHandshake = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan EvictionClose = TimeSpan.FromMilliseconds(200);

    private readonly SemaphoreSlim _send = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TerminalOptions _options = terminals.Options;
    private volatile bool _evicted;

    private enum Ending { Exited, Evicted, ClientClosed, ProtocolError, Failed }

    /// <summary>Completes when this connection has ended and let go of the terminal.</summary>
    public Task Done => _done.Task;

    /// <summary>Another client took the terminal over: close with 4001 <c>TAKEN_OVER</c>.</summary>
    public void Evict()
    {
        _evicted = true;
        _stop.Cancel();
    }

    public async Task RunAsync(long since, TerminalMode mode, CancellationToken aborted)
    {
        try
        {
            await ServeAsync(since, mode, aborted);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            logger.LogInformation("Terminal {Id}: connection ended: {Error}", session.Id, ex.Message);
            socket.Abort();
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Terminal {Id}: connection failed", session.Id);
            await CloseAsync(WebSocketCloseStatus.InternalServerError, "internal error");
        }
        finally
        {
            session.Release(this);
            session.Touch(time.GetUtcNow());
            _done.TrySetResult();
        }
    }

    private async Task ServeAsync(long since, TerminalMode mode, CancellationToken aborted)
    {
        try
        {
            await terminals.EnsureStartedAsync(session, mode);
        }
        catch (CommandStartException ex)
        {
            logger.LogWarning("Terminal {Id}: the shell could not start: {Error}", session.Id, ex.Message);
            await SendTextAsync(TerminalFrames.Error("START_FAILED", ex.Message));
            await CloseAsync(WebSocketCloseStatus.InternalServerError, "START_FAILED");
            await ReceiveCloseAsync();
            return;
        }
        var output = session.Output!;
        var record = session.Record!;
        var attachedAt = output.Log.Length;
        var from = since < 0 ? output.Log.FirstReadableOffset : since;
        if (from < attachedAt && !_evicted)
        {
            await SendReplayAsync(output.Log, from, attachedAt);
        }
        if (_evicted)
        {
            await CloseEvictedAsync();
            await ReceiveCloseAsync();
            return;
        }
        await SendTextAsync(TerminalFrames.Connected(session.Id, session.Mode ?? mode));
        logger.LogInformation("Terminal {Id}: client attached (since {Since}, live from {Offset})", session.Id, since, attachedAt);

        var sender = SendLoopAsync(output, record, attachedAt);
        var receiver = ReceiveLoopAsync(aborted);
        var first = await Task.WhenAny(sender, receiver);
        var ending = await first;
        switch (ending)
        {
            case Ending.Exited:
                // Exit frame and close 1000 are out; wait (briefly) for the client's close reply.
                await receiver.WaitAsync(CloseHandshake).ContinueWith(_ => { }, TaskScheduler.Default);
                break;
            case Ending.Evicted:
                _stop.Cancel();
                await CloseEvictedAsync();
                if (first == receiver)
                {
                    await ReceiveCloseAsync();
                }
                else
                {
                    await receiver.WaitAsync(CloseHandshake).ContinueWith(_ => { }, TaskScheduler.Default);
                }
                break;
            case Ending.ClientClosed:
                _stop.Cancel();
                await sender.ContinueWith(_ => { }, TaskScheduler.Default);
                await CloseAsync(socket.CloseStatus ?? WebSocketCloseStatus.NormalClosure, socket.CloseStatusDescription ?? "");
                break;
            case Ending.ProtocolError:
                _stop.Cancel();
                await sender.ContinueWith(_ => { }, TaskScheduler.Default);
                await ReceiveCloseAsync();
                break;
            default:
                _stop.Cancel();
                socket.Abort();
                break;
        }
        socket.Abort(); // whatever is left (a client that never answers the close) ends here
        await Task.WhenAll(sender, receiver).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private async Task SendReplayAsync(OutputLog log, long from, long until)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(9 + TerminalFrames.MaxOutputPayload);
        try
        {
            var first = true;
            var pos = from;
            while (true)
            {
                var header = first ? 9 : 0;
                var want = (int)Math.Min(TerminalFrames.MaxOutputPayload, until - pos);
                var n = want <= 0 ? 0 : log.Read(pos, buffer.AsSpan(header, want), out var readFrom);
                if (n == 0 && first)
                {
                    return; // nothing readable (retention deleted the output): no replay frame
                }
                if (first)
                {
                    // 0x03, then the big-endian absolute offset of the first byte (clamped to what the log holds).
                    var start = pos = Math.Max(pos, log.FirstReadableOffset);
                    buffer[0] = TerminalFrames.Replay;
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(buffer.AsSpan(1, 8), (ulong)start);
                }
                pos += n;
                var last = n == 0 || pos >= until;
                await SendAsync(buffer.AsMemory(0, header + n), WebSocketMessageType.Binary, endOfMessage: last);
                first = false;
                if (last)
                {
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<Ending> SendLoopAsync(TerminalOutput output, CommandRecord record, long pos)
    {
        var buffer = new byte[1 + TerminalFrames.MaxOutputPayload];
        var pipe = session.Mode == TerminalMode.Pipe;
        try
        {
            while (true)
            {
                var pulse = output.NextPulse; // before the checks: a write after them wakes us
                var finished = record.Finished.IsCompleted;
                var length = output.Log.Length;
                if (_stop.IsCancellationRequested)
                {
                    return _evicted ? Ending.Evicted : Ending.Failed;
                }
                if (pos < length)
                {
                    var (stream, runEnd) = pipe ? output.StreamAt(pos) : (OutputStream.Stdout, long.MaxValue);
                    var want = (int)Math.Min(TerminalFrames.MaxOutputPayload, Math.Min(length, runEnd) - pos);
                    var n = output.Log.Read(pos, buffer.AsSpan(1, want), out var readFrom);
                    if (n == 0)
                    {
                        pos = length; // retention deleted the stored output: those bytes are gone
                        continue;
                    }
                    buffer[0] = stream == OutputStream.Stderr ? TerminalFrames.Stderr : TerminalFrames.Stdout;
                    await SendAsync(buffer.AsMemory(0, 1 + n), WebSocketMessageType.Binary, endOfMessage: true);
                    pos = readFrom + n;
                    continue;
                }
                if (finished)
                {
                    var exit = record.Exit ?? CommandExit.FromSignal("killed");
                    await SendTextAsync(TerminalFrames.Exit(exit.ExitCode));
                    await CloseAsync(WebSocketCloseStatus.NormalClosure, "process exited");
                    return Ending.Exited;
                }
                await pulse.WaitAsync(_stop.Token);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            return _evicted ? Ending.Evicted : Ending.Failed;
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            logger.LogInformation("Terminal {Id}: sending to the client failed ({Error}); the shell goes on", session.Id, ex.Message);
            return Ending.Failed;
        }
    }

    private async Task<Ending> ReceiveLoopAsync(CancellationToken aborted)
    {
        var chunk = ArrayPool<byte>.Shared.Rent(ReceiveChunk);
        var message = new ArrayBufferWriter<byte>(ReceiveChunk);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(chunk.AsMemory(0, ReceiveChunk), aborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return Ending.ClientClosed;
                }
                if (message.WrittenCount + result.Count > _options.MaxFrameBytes)
                {
                    logger.LogWarning("Terminal {Id}: client message over {Max} bytes; closing with 1009", session.Id, _options.MaxFrameBytes);
                    await SendTextAsync(TerminalFrames.Error("FRAME_TOO_LARGE", $"a client message may hold at most {_options.MaxFrameBytes} bytes"));
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig, "FRAME_TOO_LARGE");
                    return Ending.ProtocolError;
                }
                message.Write(chunk.AsSpan(0, result.Count));
                if (!result.EndOfMessage)
                {
                    continue;
                }
                session.Touch(time.GetUtcNow());
                if (!session.IsHeldBy(this))
                {
                    return Ending.Evicted; // taken over: this client's keys must not reach the shell
                }
                var ok = result.MessageType == WebSocketMessageType.Binary
                    ? await OnBinaryAsync(message.WrittenMemory)
                    : await OnTextAsync(message.WrittenMemory);
                message.ResetWrittenCount();
                if (!ok)
                {
                    return Ending.ProtocolError;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            return _evicted ? Ending.Evicted : Ending.Failed;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private async Task<bool> OnBinaryAsync(ReadOnlyMemory<byte> frame)
    {
        if (frame.Length == 0 || frame.Span[0] != TerminalFrames.Stdin)
        {
            var what = frame.Length == 0 ? "an empty binary frame" : $"binary channel 0x{frame.Span[0]:x2}";
            logger.LogInformation("Terminal {Id}: client sent {What}", session.Id, what);
            await SendTextAsync(TerminalFrames.Error("INVALID_FRAME", $"{what}: clients send 0x00 followed by stdin bytes"));
            return true;
        }
        return await WriteStdinAsync(frame[1..]);
    }

    private async Task<bool> OnTextAsync(ReadOnlyMemory<byte> text)
    {
        var frame = TerminalFrames.Parse(text.Span, out var error);
        if (frame is null)
        {
            logger.LogInformation("Terminal {Id}: invalid frame {Frame}: {Error}", session.Id, TerminalFrames.Describe(text.Span), error);
            await SendTextAsync(TerminalFrames.Error("INVALID_FRAME", error!));
            return true;
        }
        switch (frame.Type)
        {
            case "ping":
                await SendTextAsync(TerminalFrames.Pong());
                return true;
            case "stdin":
                return await WriteStdinAsync(System.Text.Encoding.UTF8.GetBytes(frame.Data ?? ""));
            case "resize":
                return await ResizeAsync(frame);
            case "signal":
                return await SignalAsync(frame);
            default:
                logger.LogInformation("Terminal {Id}: unknown frame type {Type}", session.Id, frame.Type);
                await SendTextAsync(TerminalFrames.Error("INVALID_FRAME", $"unknown frame type \"{frame.Type}\""));
                return true;
        }
    }

    private async Task<bool> WriteStdinAsync(ReadOnlyMemory<byte> data)
    {
        if (data.IsEmpty)
        {
            return true;
        }
        if (session.Process is not { } process || !session.Running)
        {
            // The shell exited: its exit frame and close follow from the sender.
            await SendTextAsync(TerminalFrames.Error("STDIN_WRITE_FAILED", "the shell has exited"));
            return true;
        }
        try
        {
            using var timeout = new CancellationTokenSource(_options.SendTimeout);
            await process.WriteInputAsync(data, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            if (!session.Running)
            {
                return true; // it exited meanwhile
            }
            logger.LogWarning("Terminal {Id}: writing stdin failed: {Error}", session.Id, ex.Message);
            await SendTextAsync(TerminalFrames.Error("STDIN_WRITE_FAILED", ex.Message));
            await CloseAsync(WebSocketCloseStatus.InternalServerError, "STDIN_WRITE_FAILED");
            return false;
        }
    }

    private async Task<bool> ResizeAsync(TerminalFrames.ClientFrame frame)
    {
        if (frame.Cols is not (>= 1 and <= ushort.MaxValue) || frame.Rows is not (>= 1 and <= ushort.MaxValue))
        {
            logger.LogInformation("Terminal {Id}: rejected resize {Cols}x{Rows}", session.Id, frame.Cols, frame.Rows);
            await SendTextAsync(TerminalFrames.Error("INVALID_FRAME", $"resize needs cols and rows from 1 to {ushort.MaxValue} (got {frame.Cols?.ToString() ?? "none"}x{frame.Rows?.ToString() ?? "none"})"));
            return true;
        }
        // Pipe mode has no terminal size: a no-op, as upstream.
        session.Process?.Resize((ushort)frame.Cols.Value, (ushort)frame.Rows.Value);
        return true;
    }

    private async Task<bool> SignalAsync(TerminalFrames.ClientFrame frame)
    {
        if (frame.Signal is null || !TerminalFrames.Signals.TryGetValue(frame.Signal, out var number))
        {
            logger.LogInformation("Terminal {Id}: unknown signal {Signal}", session.Id, frame.Signal);
            await SendTextAsync(TerminalFrames.Error("INVALID_SIGNAL", $"unknown signal \"{frame.Signal}\"; known: {string.Join(", ", TerminalFrames.Signals.Keys)}"));
            return true;
        }
        if (session.Process is not { } process || !process.Signal(number))
        {
            await SendTextAsync(TerminalFrames.Error("SIGNAL_FAILED", $"no running shell to send {frame.Signal} to"));
        }
        return true;
    }

    private Task SendTextAsync(byte[] json) => SendAsync(json, WebSocketMessageType.Text, endOfMessage: true);

    private async Task SendAsync(ReadOnlyMemory<byte> data, WebSocketMessageType type, bool endOfMessage)
    {
        await _send.WaitAsync();
        try
        {
            // Cancelling a send aborts the socket: a client that stopped reading is dropped, the shell goes on.
            using var timeout = new CancellationTokenSource(_options.SendTimeout);
            await socket.SendAsync(data, type, endOfMessage, timeout.Token);
        }
        finally
        {
            _send.Release();
        }
    }

    private async Task CloseEvictedAsync()
    {
        logger.LogInformation("Terminal {Id}: client taken over; closing with 4001", session.Id);
        await CloseAsync((WebSocketCloseStatus)TerminalFrames.TakenOver, "TAKEN_OVER", EvictionClose);
    }

    /// <summary>After our close frame, gives the client a moment to answer it (aborting at once can drop the frame).</summary>
    private async Task ReceiveCloseAsync()
    {
        if (socket.State != WebSocketState.CloseSent)
        {
            return;
        }
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(CloseHandshake);
        try
        {
            for (var i = 0; i < 1024 && socket.State == WebSocketState.CloseSent; i++)
            {
                await socket.ReceiveAsync(buffer, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // The client went away without answering.
        }
    }

    /// <summary>Sends a close frame (best effort, bounded); the socket is aborted by the caller afterwards.</summary>
    private async Task CloseAsync(WebSocketCloseStatus status, string reason, TimeSpan? within = null)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }
        try
        {
            using var timeout = new CancellationTokenSource(within ?? CloseHandshake);
            await _send.WaitAsync(timeout.Token);
            try
            {
                await socket.CloseOutputAsync(status, reason, timeout.Token);
            }
            finally
            {
                _send.Release();
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            logger.LogDebug("Terminal {Id}: close {Status} not delivered: {Error}", session.Id, (int)status, ex.Message);
        }
    }
}

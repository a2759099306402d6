namespace Execd.Core.Commands;

/// <summary>One piece a reader receives: output bytes of one stream at an absolute offset, or a keep-alive tick.</summary>
public readonly record struct OutputPiece(OutputStream Stream, long Offset, ReadOnlyMemory<byte> Data)
{
    public static OutputPiece Tick => default;
    public bool IsTick => Stream == 0;
    public long End => Offset + Data.Length;
}

/// <summary>
/// One reader of an <see cref="OutputLog"/>, from its own offset to the end. The writer offers it every new chunk
/// without ever waiting: while the reader keeps up, chunks come straight from memory (a bounded queue); once the
/// queue would pass <see cref="MaxQueuedBytes"/> the reader falls back to reading storage from its own offset until
/// it has caught up with the queue. So a stalled reader holds at most <see cref="MaxQueuedBytes"/> of memory and
/// never delays the command, other readers, or completion. Bytes the log does not hold (dropped by the cap, lost
/// when no provider could take them) are skipped: a reader only ever receives real output, at true offsets.
/// </summary>
public sealed class OutputReader : IDisposable
{
    /// <summary>Queued bytes at most per reader before it is served from storage instead.</summary>
    public const int MaxQueuedBytes = 1 << 20;
    private const int StorageBlock = 64 * 1024;

    private readonly OutputLog _log;
    private readonly Queue<OutputPiece> _queue = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private long _queuedBytes;
    private long _position;
    // Bytes below this offset were never queued for this reader (written before it subscribed, or dropped when its queue
    // overflowed): they come from storage. Above it, the queue is complete, so the reader waits for it rather than racing it.
    private long _missedUntil;
    private bool _tick;
    private bool _disposed;

    internal OutputReader(OutputLog log, long position, long logLength)
    {
        _log = log;
        _position = position;
        _missedUntil = logLength;
    }

    /// <summary>The absolute offset of the next byte this reader will receive.</summary>
    public long Position => Volatile.Read(ref _position);

    /// <summary>Whether a chunk is waiting in memory (the caller may write more before flushing).</summary>
    public bool HasQueued
    {
        get
        {
            lock (_queue)
            {
                return _queue.Count > 0;
            }
        }
    }

    /// <summary>How many times this reader fell behind and was served from storage (for tests and metrics).</summary>
    public int Fallbacks { get; private set; }

    /// <summary>Called by the writer (never blocks): queues a copy of the chunk, or drops it when the queue is full.</summary>
    internal void Offer(OutputStream stream, long offset, ReadOnlySpan<byte> data) => Offer(stream, offset, data, null);

    /// <summary>As <see cref="Offer(OutputStream, long, ReadOnlySpan{byte})"/>, without a copy: the writer hands <paramref name="data"/> over (readers share it; nobody changes it).</summary>
    internal void OfferOwned(OutputStream stream, long offset, byte[] data) => Offer(stream, offset, data, data);

    private void Offer(OutputStream stream, long offset, ReadOnlySpan<byte> data, byte[]? owned)
    {
        lock (_queue)
        {
            if (_disposed || offset + data.Length <= _position)
            {
                return;
            }
            if (_queuedBytes + data.Length > MaxQueuedBytes)
            {
                // Fell behind: forget the queue; NextAsync reads storage from the reader's own offset.
                _queue.Clear();
                _queuedBytes = 0;
                _missedUntil = Math.Max(_missedUntil, offset + data.Length);
                Fallbacks++;
            }
            else
            {
                _queue.Enqueue(new OutputPiece(stream, offset, owned ?? data.ToArray()));
                _queuedBytes += data.Length;
            }
        }
        Wake();
    }

    /// <summary>Bytes below <paramref name="until"/> were stored but not offered to this reader: it reads them from storage.</summary>
    internal void Missed(long until)
    {
        lock (_queue)
        {
            _missedUntil = Math.Max(_missedUntil, until);
            Fallbacks++;
        }
        Wake();
    }

    /// <summary>Asks for a keep-alive tick: the next <see cref="NextAsync"/> returns <see cref="OutputPiece.Tick"/> if nothing else is ready.</summary>
    public void Tick()
    {
        lock (_queue)
        {
            _tick = true;
        }
        Wake();
    }

    internal void Wake()
    {
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// The next piece at this reader's offset (from memory or storage), a tick, or null once the log is complete and
    /// everything was received.
    /// </summary>
    public async ValueTask<OutputPiece?> NextAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Read the completion flag before the length: a log completed with everything received is the end.
            var completed = _log.IsCompleted;
            var end = _log.Length;
            long queueHead;
            long missedUntil;
            lock (_queue)
            {
                while (_queue.TryPeek(out var head) && head.End <= _position)
                {
                    _queue.Dequeue();
                    _queuedBytes -= head.Data.Length;
                }
                if (_queue.TryPeek(out var first) && first.Offset <= _position)
                {
                    _queue.Dequeue();
                    _queuedBytes -= first.Data.Length;
                    var skip = (int)(_position - first.Offset);
                    var piece = first with { Offset = _position, Data = first.Data[skip..] };
                    _position = piece.End;
                    return piece;
                }
                queueHead = _queue.TryPeek(out var later) ? later.Offset : long.MaxValue;
                // Once the log is complete nothing more will be queued: whatever is left comes from storage.
                missedUntil = completed ? end : _missedUntil;
            }
            var storageUntil = Math.Min(end, queueHead == long.MaxValue ? missedUntil : queueHead);
            if (_position < storageUntil)
            {
                // Bytes this reader never got in memory (it subscribed late, or fell behind): read storage.
                if (ReadStored(storageUntil) is { } stored)
                {
                    return stored;
                }
                continue;
            }
            if (completed)
            {
                return null;
            }
            lock (_queue)
            {
                if (_tick)
                {
                    _tick = false;
                    return OutputPiece.Tick;
                }
            }
            await _signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads stored bytes from the reader's offset up to <paramref name="limit"/>, within one stream run; skips what the log does not hold.</summary>
    private OutputPiece? ReadStored(long limit)
    {
        var from = _log.NextHeldOffset(_position);
        if (from > _position)
        {
            _position = Math.Min(from, limit);
            return null;
        }
        var (stream, runEnd) = _log.StreamAt(_position);
        var want = (int)Math.Min(StorageBlock, Math.Min(limit, runEnd) - _position);
        var buffer = new byte[want];
        var n = _log.Read(_position, buffer, out var readFrom);
        if (n == 0 || readFrom != _position)
        {
            // Deleted under us (retention) or lost: nothing more can be read from storage here.
            _position = Math.Min(_log.Length, limit);
            return null;
        }
        var piece = new OutputPiece(stream, _position, buffer.AsMemory(0, n));
        _position += n;
        return piece;
    }

    /// <summary>Stops receiving; queued chunks are released.</summary>
    public void Dispose()
    {
        lock (_queue)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            _queue.Clear();
            _queuedBytes = 0;
        }
        _log.Unsubscribe(this);
    }
}

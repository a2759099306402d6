using System.Buffers;
using System.Collections.Immutable;
using Execd.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Commands;

/// <summary>
/// A command's output: an ordered byte log with absolute offsets, stored on the best-ranked storage
/// provider and fanned out to live readers straight from memory.
/// <para>
/// Stored bytes live in segments (a sink on some provider holding the bytes from an absolute base offset).
/// Without a cap there is one segment. When its sink throws, the segment moves to the next provider: what
/// the failed sink still reads back (an open file survives the deletion of its directory) is copied, the
/// pending bytes are appended, and the log carries on at the same offsets; live readers never notice.
/// With a cap (<see cref="OutputCaps"/>) the head is one segment and the tail a rolling run of segments; the
/// oldest tail segments are deleted and counted in <see cref="DroppedBytes"/>.
/// </para>
/// <para>
/// Reads are defined for every offset below <see cref="Length"/>: an offset before <see cref="FirstReadableOffset"/>
/// reads from there; a byte the log does not hold (dropped by the cap, or lost because no provider could take
/// it) reads as NUL (0x00), so offsets and cursors stay absolute.
/// </para>
/// </summary>
public sealed class OutputLog : IOutputWriter
{
    private const int CopyBlock = 64 * 1024;
    private const int LiveChunk = 64 * 1024;
    private static readonly TimeSpan RetryOpenEvery = TimeSpan.FromSeconds(1);
    private readonly string _commandId;
    private readonly StorageRanking _storage;
    private readonly ILogger _logger;
    private readonly OutputCaps _caps;
    private readonly object _gate = new();
    private readonly List<Segment> _segments = [];
    private ImmutableArray<OutputReader> _readers = [];
    // Where each run of one stream starts: (offset << 1) | 1 for stderr; a new entry only when the stream changes.
    private readonly List<long> _runs = [];
    private long _length;
    private long _unstored;   // bytes no provider could take, or that could not be carried over
    private long _dropped;    // bytes the per-command cap dropped
    private long _nextOpenAttempt;
    private volatile bool _completed;
    private volatile bool _deleted;
    private volatile string? _provider;
    private ImmutableArray<string> _providerHistory = [];
    private Task _moves = Task.CompletedTask;   // failover copies in flight (chained), for tests and shutdown

    public OutputLog(string commandId, StorageRanking storage, ILogger logger) : this(commandId, storage, logger, OutputCaps.None)
    {
    }

    public OutputLog(string commandId, StorageRanking storage, ILogger logger, OutputCaps caps)
    {
        _commandId = commandId;
        _storage = storage;
        _logger = logger;
        _caps = caps;
        lock (_gate)
        {
            _ = OpenSegment();
        }
    }

    /// <summary>A log re-indexed from a durable record: complete, its segments reopened from storage.</summary>
    internal OutputLog(string commandId, StorageRanking storage, ILogger logger, IEnumerable<(IOutputSink Sink, long Start)> segments,
        long length, long unstored, long dropped, IEnumerable<string> providers, IEnumerable<long> runs, bool deleted, bool completed = true)
    {
        _commandId = commandId;
        _storage = storage;
        _logger = logger;
        _caps = OutputCaps.None;
        foreach (var (sink, start) in segments)
        {
            _segments.Add(new Segment(sink, start) { Sealed = true });
        }
        _length = length;
        _unstored = unstored;
        _dropped = dropped;
        _providerHistory = [.. providers];
        _runs.AddRange(runs);
        _deleted = deleted;
        // A re-adopted command's log stays open (its reopened segments are sealed: new output, if any, starts a new one).
        _completed = completed;
        PublishProvider();
    }

    /// <summary>One stored range of the log, for the durable record: the provider, the sink's key there, where it starts and its length.</summary>
    public sealed record StoredSegment(string Provider, string? Key, long Start, long Length);

    /// <summary>The segments held now, oldest first.</summary>
    public IReadOnlyList<StoredSegment> StoredSegments
    {
        get
        {
            lock (_gate)
            {
                return [.. _segments.Select(s => new StoredSegment(s.Sink.Provider.Name, s.Sink.Key, s.Start, s.Sink.Length))];
            }
        }
    }

    private sealed class Segment(IOutputSink sink, long start)
    {
        public IOutputSink Sink { get; set; } = sink;
        public long Start { get; set; } = start;
        /// <summary>No more appends: rolled over (cap), or its sink failed.</summary>
        public bool Sealed { get; set; }
        /// <summary>Its sink failed and a copy to another provider is under way (off the lock).</summary>
        public bool Moving { get; set; }
        public long End => Start + Sink.Length;
    }

    /// <summary>Total bytes written (the absolute end offset).</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>The provider holding the newest output now, or null if none does.</summary>
    public string? Provider => _provider;

    /// <summary>Every provider that held this log, in order; more than one means it moved.</summary>
    public IReadOnlyList<string> ProviderHistory => _providerHistory;

    /// <summary>Bytes that could not be stored anywhere (still streamed live); they read as NUL.</summary>
    public long UnstoredBytes => Interlocked.Read(ref _unstored);

    /// <summary>Bytes the per-command cap dropped from the middle; they read as NUL.</summary>
    public long DroppedBytes => Interlocked.Read(ref _dropped);

    /// <summary>Bytes currently stored on providers for this log.</summary>
    public long StoredBytes { get { lock (_gate) { return _segments.Sum(s => s.Sink.Length); } } }

    /// <summary>Offset of the first byte that can still be read.</summary>
    public long FirstReadableOffset { get { lock (_gate) { return _segments.Count == 0 ? _length : _segments[0].Start; } } }

    public bool IsCompleted => _completed;

    /// <summary>
    /// Complete and its last sink sealed (for a durable provider: flushed to the device). Taken under the log's lock, so a seal in
    /// progress (<see cref="SealActive"/>) is waited for.
    /// </summary>
    internal bool IsSealed
    {
        get
        {
            lock (_gate)
            {
                return _completed && Active() is null;
            }
        }
    }

    /// <summary>Whether the stored output was deleted (retention).</summary>
    public bool IsDeleted => _deleted;

    /// <summary>
    /// Adds a reader that receives every byte from <paramref name="from"/> on (0: everything), live while it keeps up and
    /// from storage when it falls behind. Dispose it when done.
    /// </summary>
    public OutputReader Subscribe(long from = 0)
    {
        OutputReader reader;
        lock (_gate)
        {
            reader = new OutputReader(this, Math.Max(0, from), _length);
            if (!_completed)
            {
                _readers = _readers.Add(reader);
            }
        }
        return reader;
    }

    internal void Unsubscribe(OutputReader reader)
    {
        lock (_gate)
        {
            _readers = _readers.Remove(reader);
        }
    }

    /// <summary>
    /// Appends a chunk. Never waits: the bytes are stored and offered to every reader (which queues a copy or, when
    /// it has fallen behind, reads storage later). Storage failures are handled here and never thrown.
    /// </summary>
    public ValueTask WriteAsync(OutputStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (data.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }
        lock (_gate)
        {
            var offset = _length;
            var run = Run(stream, offset);
            Announce(run);
            AddRun(run);
            Store(data.Span);
            // Readers get copies of at most LiveChunk bytes: a bulk writer hands over up to 1 MiB at a time, and
            // copies that large would each be a large-object-heap allocation (collected only with gen2).
            foreach (var reader in _readers)
            {
                for (var at = 0; at < data.Length; at += LiveChunk)
                {
                    reader.Offer(stream, offset + at, data.Span.Slice(at, Math.Min(LiveChunk, data.Length - at)));
                }
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Hears, under the log's lock and before the bytes are stored, of each change of the stream that writes (a run entry, as in
    /// <see cref="Runs"/>): the durable run journal of a command kept for the next daemon. Must not wait on anything but its write.
    /// </summary>
    internal Action<long>? RunStarting { get; set; }

    private long _announced = -1;   // the stream bit the run journal heard of last; -1: nothing yet

    // A run entry (see Runs): the offset, with the stream in the lowest bit.
    private static long Run(OutputStream stream, long offset) => (offset << 1) | (stream == OutputStream.Stderr ? 1L : 0L);

    // Under the lock, before the run's bytes count: a new entry only when the stream changes.
    private void AddRun(long run)
    {
        if (_runs.Count == 0 || (_runs[^1] & 1) != (run & 1))
        {
            _runs.Add(run);
        }
    }

    private void Announce(long run)
    {
        // The journal needs an entry only where the stream differs from what a next daemon assumes anyway for the next byte: the
        // stream the journal heard of last, else the last run this log holds (restored from the record, or written since without a
        // change), else stdout (a record without runs means stdout). So a command that writes only stdout never creates the journal.
        var assumed = _announced >= 0 ? _announced : _runs.Count > 0 ? _runs[^1] & 1 : 0;
        if (RunStarting is { } announce && assumed != (run & 1))
        {
            _announced = run & 1;
            announce(run);
        }
    }

    /// <summary>Which stream wrote the byte at <paramref name="offset"/>, and where that stream's run ends.</summary>
    public (OutputStream Stream, long RunEnd) StreamAt(long offset)
    {
        lock (_gate)
        {
            // The last run starting at or before offset.
            int lo = 0, hi = _runs.Count - 1, found = -1;
            while (lo <= hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_runs[mid] >> 1 <= offset)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }
            var stream = found >= 0 && (_runs[found] & 1) == 1 ? OutputStream.Stderr : OutputStream.Stdout;
            var end = found + 1 < _runs.Count ? _runs[found + 1] >> 1 : long.MaxValue;
            return (stream, end);
        }
    }

    /// <summary>The stream runs: start offsets with the stream in the lowest bit (1 = stderr); persisted with the record.</summary>
    public long[] Runs
    {
        get
        {
            lock (_gate)
            {
                return [.. _runs];
            }
        }
    }

    /// <summary><paramref name="offset"/> if the log holds that byte, else the next offset it holds (or <see cref="Length"/>).</summary>
    public long NextHeldOffset(long offset)
    {
        lock (_gate)
        {
            foreach (var segment in _segments)
            {
                if (offset < segment.Start)
                {
                    return segment.Start;
                }
                if (offset < segment.End)
                {
                    return offset;
                }
            }
            return Math.Max(offset, _length);
        }
    }

    /// <summary>No more output: seals the sink and ends every live reader's stream.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }
            if (Active() is { } active)
            {
                Seal(active);
            }
            EndReaders();
        }
    }

    /// <summary>
    /// No more output, sealing later (<see cref="SealActive"/>): every live reader's stream ends now. Every byte is already in
    /// the sink (for a file provider: in the page cache, which survives a daemon crash); the sink's <see cref="IOutputSink.Complete"/>
    /// (a file provider's fsync, which guards against a kernel crash) then runs off the path of the reader's final event.
    /// </summary>
    internal void CompleteUnsealed()
    {
        lock (_gate)
        {
            if (!_completed)
            {
                EndReaders();
            }
        }
    }

    /// <summary>Seals the sink still open after <see cref="CompleteUnsealed"/> (a durable provider flushes it to the device).</summary>
    internal void SealActive()
    {
        lock (_gate)
        {
            if (_completed && Active() is { } active)
            {
                Seal(active);
            }
        }
    }

    private void EndReaders()
    {
        _completed = true;
        foreach (var r in _readers)
        {
            r.Wake();
        }
        _readers = [];
    }

    /// <summary>
    /// Reads stored bytes from absolute <paramref name="offset"/>. Returns the count, 0 at the end. An offset
    /// before <see cref="FirstReadableOffset"/> reads from there (<paramref name="readFrom"/> says where); bytes
    /// the log does not hold (dropped, lost) read as NUL.
    /// </summary>
    public int Read(long offset, Span<byte> buffer, out long readFrom)
    {
        lock (_gate)
        {
            readFrom = Math.Max(offset, _segments.Count == 0 ? _length : _segments[0].Start);
            if (readFrom >= _length || buffer.IsEmpty)
            {
                return 0;
            }
            var at = readFrom;
            for (var attempt = 0; attempt < 2; attempt++)
            {
                var i = _segments.FindLastIndex(s => s.Start <= at);
                var segment = i >= 0 ? _segments[i] : null;
                if (segment is null || readFrom >= segment.End)
                {
                    // A hole: up to the next segment, or to the end of the log.
                    var next = i + 1 < _segments.Count ? _segments[i + 1].Start : _length;
                    var n = (int)Math.Min(buffer.Length, next - readFrom);
                    buffer[..n].Clear();
                    return n;
                }
                try
                {
                    var want = (int)Math.Min(buffer.Length, segment.End - readFrom);
                    return segment.Sink.Read(readFrom - segment.Start, buffer[..want]);
                }
                catch (Exception ex) when (segment.Moving)
                {
                    // The background copy reads the same failed sink: what it cannot read is lost there too.
                    _logger.LogDebug("Output of {Id}: reading a sink being moved failed: {Error}", _commandId, ex.Message);
                    var n = (int)Math.Min(buffer.Length, segment.End - readFrom);
                    buffer[..n].Clear();
                    return n;
                }
                catch (Exception ex)
                {
                    _storage.ReportFailure(segment.Sink.Provider, ex);
                    MoveSegment(segment, ReadOnlySpan<byte>.Empty, ex);
                }
            }
            return 0;
        }
    }

    /// <summary>Deletes the stored output (retention); the log keeps its length, and reads return nothing.</summary>
    public void Delete()
    {
        lock (_gate)
        {
            _deleted = true;
            foreach (var segment in _segments)
            {
                DeleteSink(segment.Sink);
            }
            _segments.Clear();
            PublishProvider();
        }
    }

    // Status reads the provider without taking the lock (it never waits on a write or a failover).
    private void PublishProvider() => _provider = _segments.Count == 0 ? null : _segments[^1].Sink.Provider.Name;

    private Segment? Active() => _segments.Count > 0 && !_segments[^1].Sealed ? _segments[^1] : null;

    private void Store(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var take = NextTake(data.Length, out var inHead);
            StoreInActive(data[..take]);
            Advance(take, inHead);
            data = data[take..];
        }
    }

    /// <summary>How many of <paramref name="count"/> bytes go to the active segment next: with a cap, at most the rest of the head or of the tail segment (a full one is rolled first).</summary>
    private int NextTake(int count, out bool inHead)
    {
        inHead = false;
        if (!_caps.Enabled)
        {
            return count;
        }
        if (_length < _caps.HeadBytes)
        {
            inHead = true;
            return (int)Math.Min(count, _caps.HeadBytes - _length);
        }
        // Tail: roll to a new segment when the active one (or a head one) is full.
        if (Active() is { } current && (current.Start < _caps.HeadBytes || _length - current.Start >= _caps.SegmentBytes))
        {
            Seal(current);
        }
        var start = Active()?.Start ?? _length;
        return (int)Math.Min(count, _caps.SegmentBytes - (_length - start));
    }

    /// <summary>After <paramref name="count"/> bytes were stored (or counted unstored): the new length; a full head is sealed, the oldest tail dropped.</summary>
    private void Advance(int count, bool inHead)
    {
        _length += count;
        if (inHead && _length == _caps.HeadBytes && Active() is { } head)
        {
            Seal(head);
        }
        if (_caps.Enabled && !inHead)
        {
            DropOldTail();
        }
    }

    /// <summary>
    /// Appends up to <paramref name="count"/> bytes moved straight from <paramref name="pipe"/> into the active sink when it can take
    /// them that way (<see cref="IOutputSink.AppendFromPipe"/>): no byte is in the daemon's hands before it is stored, so a daemon
    /// killed at any instant leaves each byte stored or still in the pipe. Live readers get what was moved read back from the sink
    /// (the page cache); with none, the bytes never enter the process. See <see cref="IOutputWriter.WriteFromPipe"/> for the result.
    /// </summary>
    public int WriteFromPipe(OutputStream stream, System.Runtime.InteropServices.SafeHandle pipe, int count)
    {
        lock (_gate)
        {
            if (_completed || _deleted || count <= 0)
            {
                return -2;
            }
            var take = NextTake(count, out var inHead);
            var segment = Active() ?? OpenSegment();
            if (segment is null || !segment.Sink.CanAppendFromPipe)
            {
                return -2;
            }
            // The run journal hears of a stream only when it has bytes to store: a pump's first look at a pipe that is still empty,
            // or at one whose writer has gone, moves nothing and notes nothing (before, every command's empty stderr made a journal).
            if (PipePoll.Probe(pipe) is var state && state != PipeState.Bytes)
            {
                return state == PipeState.End ? 0 : -1;
            }
            var offset = _length;
            var sinkOffset = segment.Sink.Length;
            var run = Run(stream, offset);
            Announce(run);
            int moved;
            try
            {
                moved = segment.Sink.AppendFromPipe(pipe, take);
            }
            catch (Exception ex)
            {
                // Whatever was not moved is still in the pipe: the caller reads it into the next provider the usual way.
                _storage.ReportFailure(segment.Sink.Provider, ex);
                FailOver(segment, ReadOnlySpan<byte>.Empty, ex);
                return -2;
            }
            if (moved <= 0)
            {
                return moved;
            }
            AddRun(run);
            if (!_readers.IsEmpty)
            {
                OfferStored(stream, segment.Sink, sinkOffset, offset, moved);
            }
            Advance(moved, inHead);
            return moved;
        }
    }

    // Under the lock: hands bytes just stored to every live reader, read back from the sink in live-sized pieces that the readers share
    // (read once, not copied again per reader).
    private void OfferStored(OutputStream stream, IOutputSink sink, long sinkOffset, long offset, int count)
    {
        try
        {
            for (var at = 0; at < count;)
            {
                var piece = new byte[Math.Min(LiveChunk, count - at)];
                var n = sink.Read(sinkOffset + at, piece);
                if (n <= 0)
                {
                    throw new IOException($"{count - at} bytes just stored read back short");
                }
                if (n < piece.Length)
                {
                    Array.Resize(ref piece, n);
                }
                foreach (var reader in _readers)
                {
                    reader.OfferOwned(stream, offset + at, piece);
                }
                at += n;
            }
        }
        catch (Exception ex)
        {
            // Stored but not read back: each reader reads the rest from storage at its own pace, as if it had fallen behind.
            _logger.LogDebug("Output of {Id}: reading back {Count} bytes for live readers failed: {Error}", _commandId, count, ex.Message);
            foreach (var reader in _readers)
            {
                reader.Missed(offset + count);
            }
        }
    }

    private void StoreInActive(ReadOnlySpan<byte> data)
    {
        var segment = Active() ?? OpenSegment();
        if (segment is null)
        {
            _unstored += data.Length;
            return;
        }
        try
        {
            segment.Sink.Append(data);
        }
        catch (Exception ex)
        {
            _storage.ReportFailure(segment.Sink.Provider, ex);
            FailOver(segment, data, ex);
        }
    }

    /// <summary>Completes when every failover copy started so far has finished (swapped in or given up).</summary>
    internal Task MovesCompleted { get { lock (_gate) { return _moves; } } }

    /// <summary>
    /// The writer's sink failed: new output goes on at once in a new segment on the best other provider, and what the failed
    /// sink still reads back is copied to another provider in the background (<see cref="CopyOff"/>). Nothing here waits for
    /// a copy of up to the per-command cap: status, logs, retention and the writer take the lock only briefly.
    /// </summary>
    private void FailOver(Segment segment, ReadOnlySpan<byte> pending, Exception cause)
    {
        var failed = segment.Sink;
        segment.Sealed = true;
        var next = OpenOnBest(failed.Provider, null, pending);
        if (failed.Length == 0)
        {
            _segments.Remove(segment);
            DeleteSink(failed);
        }
        else
        {
            StartCopy(segment);
        }
        if (next is null)
        {
            _unstored += pending.Length;
            PublishProvider();
            _logger.LogError("Output of {Id}: no storage provider can take it after {Provider} failed ({Error}); output is streamed but not stored",
                _commandId, failed.Provider.Name, cause.Message);
            return;
        }
        _segments.Add(new Segment(next, _length));
        PublishProvider();
        SegmentsMoved?.Invoke();
        _logger.LogWarning("Output of {Id} goes on on {To} at offset {Offset} after {From} failed ({Error})",
            _commandId, next.Provider.Name, _length, failed.Provider.Name, cause.Message);
    }

    /// <summary>Under the lock: queues the background copy of a sealed segment whose sink failed.</summary>
    private void StartCopy(Segment segment)
    {
        var failed = segment.Sink;
        segment.Moving = true;
        var previous = _moves;
        _moves = Task.Run(async () =>
        {
            await previous.ConfigureAwait(false);
            if (CopyOff(segment, failed))
            {
                SegmentsMoved?.Invoke();
            }
        });
    }

    /// <summary>
    /// Raised after a background copy replaced a failed sink (off the lock), and when a sink opened after the first one (under the
    /// lock: handlers must not wait for it): the durable record names the sinks.
    /// </summary>
    public event Action? SegmentsMoved;

    /// <summary>
    /// Off the lock: copies what <paramref name="failed"/> (sealed, so no longer growing) still reads back to the best other
    /// provider, then swaps the copy in under the lock — unless the segment was dropped or deleted meanwhile. If no provider
    /// takes the copy, the failed sink is kept: what it still reads stays readable.
    /// </summary>
    private bool CopyOff(Segment segment, IOutputSink failed)
    {
        long start;
        lock (_gate)
        {
            start = segment.Start;
        }
        foreach (var ranked in _storage.Current)
        {
            if (ranked.Provider == failed.Provider)
            {
                continue;
            }
            IOutputSink? copy = null;
            try
            {
                copy = ranked.Provider.Open(_commandId);
                var (newStart, lost) = CopyInto(failed, start, copy);
                copy.Complete();
                lock (_gate)
                {
                    segment.Moving = false;
                    if (_deleted || !_segments.Contains(segment) || segment.Sink != failed)
                    {
                        DeleteSink(copy);   // dropped by the cap, deleted by retention, or moved by a failed read meanwhile
                        return false;
                    }
                    segment.Sink = copy;
                    segment.Start = newStart;
                    _unstored += lost;
                    if (!_providerHistory.Contains(ranked.Provider.Name))
                    {
                        _providerHistory = _providerHistory.Add(ranked.Provider.Name);
                    }
                    DeleteSink(failed);
                }
                _logger.LogWarning("Output of {Id}: {Bytes} bytes moved from {From} to {To} in the background ({Lost} lost)",
                    _commandId, failed.Length, failed.Provider.Name, ranked.Provider.Name, lost);
                return true;
            }
            catch (Exception ex)
            {
                _storage.ReportFailure(ranked.Provider, ex);
                if (copy is not null)
                {
                    DeleteSink(copy);
                }
            }
        }
        lock (_gate)
        {
            segment.Moving = false;
        }
        _logger.LogError("Output of {Id}: no provider could take a copy of {Bytes} bytes from {Provider}; they stay readable there as far as it reads",
            _commandId, failed.Length, failed.Provider.Name);
        return false;
    }

    /// <summary>Deletes the oldest tail segments while the tail holds more than the cap allows.</summary>
    private void DropOldTail()
    {
        var tail = _segments.Where(s => s.Start >= _caps.HeadBytes).ToList();
        var held = tail.Sum(s => s.Sink.Length);
        for (var i = 0; i < tail.Count - 1 && held > _caps.TailBytes; i++)
        {
            var oldest = tail[i];
            held -= oldest.Sink.Length;
            _dropped += oldest.Sink.Length;
            _segments.Remove(oldest);
            PublishProvider();
            DeleteSink(oldest.Sink);
        }
    }

    private void Seal(Segment segment)
    {
        segment.Sealed = true;
        try
        {
            segment.Sink.Complete();
        }
        catch (Exception ex)
        {
            // Finished output that could not be made durable: copied to another provider off the lock, like a failed append.
            _storage.ReportFailure(segment.Sink.Provider, ex);
            if (!segment.Moving)
            {
                StartCopy(segment);
            }
        }
    }

    /// <summary>Opens a new segment at the current end on the best provider (not more than once a second after every provider failed).</summary>
    private Segment? OpenSegment()
    {
        if (_deleted || Environment.TickCount64 < _nextOpenAttempt)
        {
            return null;
        }
        var sink = OpenOnBest(null, null, ReadOnlySpan<byte>.Empty);
        if (sink is null)
        {
            _nextOpenAttempt = Environment.TickCount64 + (long)RetryOpenEvery.TotalMilliseconds;
            _logger.LogError("Output of {Id}: no storage provider can take it; output is streamed but not stored", _commandId);
            return null;
        }
        var segment = new Segment(sink, _length);
        _segments.Add(segment);
        PublishProvider();
        SegmentsMoved?.Invoke();   // no handler yet for the first sink, opened by the constructor
        return segment;
    }

    /// <summary>Opens the sink new output goes to now, if none is open (a re-adopted command's log, before its record is written).</summary>
    internal void OpenActive()
    {
        lock (_gate)
        {
            _ = Active() ?? OpenSegment();
        }
    }

    /// <summary>
    /// Moves <paramref name="segment"/> off its failed sink to the best other provider, copying what the failed
    /// sink still reads back and then <paramref name="pending"/>. If no provider takes it, the failed sink is
    /// kept (what it still reads stays readable) and the segment is sealed.
    /// </summary>
    private void MoveSegment(Segment segment, ReadOnlySpan<byte> pending, Exception cause)
    {
        var failed = segment.Sink;
        var next = OpenOnBest(failed.Provider, segment, pending);
        if (next is null)
        {
            segment.Sealed = true;
            _unstored += pending.Length;
            if (failed.Length == 0)
            {
                _segments.Remove(segment);
                PublishProvider();
                DeleteSink(failed);
            }
            _logger.LogError("Output of {Id}: no storage provider can take it after {Provider} failed ({Error}); output is streamed but not stored",
                _commandId, failed.Provider.Name, cause.Message);
            return;
        }
        segment.Sink = next;
        PublishProvider();
        DeleteSink(failed);
        _logger.LogWarning("Output of {Id} moved from {From} to {To} at offset {Offset} ({Error})",
            _commandId, failed.Provider.Name, next.Provider.Name, segment.Start, cause.Message);
    }

    /// <summary>
    /// Opens a sink on the best provider other than <paramref name="exclude"/>, fills it with what
    /// <paramref name="from"/>'s sink still reads (adjusting its start if nothing could be read) and appends
    /// <paramref name="pending"/>.
    /// </summary>
    private IOutputSink? OpenOnBest(IOutputStorageProvider? exclude, Segment? from, ReadOnlySpan<byte> pending)
    {
        foreach (var ranked in _storage.Current)
        {
            var provider = ranked.Provider;
            if (provider == exclude)
            {
                continue;
            }
            IOutputSink? sink = null;
            try
            {
                sink = provider.Open(_commandId);
                var (start, lost) = from is null ? (_length, 0L) : CopyInto(from.Sink, from.Start, sink);
                sink.Append(pending);
                if (from is not null)
                {
                    from.Start = start;
                    _unstored += lost;
                }
                if (_providerHistory.IsEmpty || _providerHistory[^1] != provider.Name)
                {
                    _providerHistory = _providerHistory.Add(provider.Name);
                }
                return sink;
            }
            catch (Exception ex)
            {
                _storage.ReportFailure(provider, ex);
                if (sink is not null)
                {
                    DeleteSink(sink);
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Copies what <paramref name="from"/>'s failed sink can still read into <paramref name="to"/>; returns the
    /// segment's new start and the bytes lost. Nothing readable: the new sink starts at the segment's end.
    /// Partly readable: the unreadable rest is written as NUL so offsets stay true. Failures of
    /// <paramref name="to"/> propagate (that provider failed too).
    /// </summary>
    private (long Start, long Lost) CopyInto(IOutputSink failed, long fromStart, IOutputSink to)
    {
        var stored = failed.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBlock);
        try
        {
            long position = 0;
            while (position < stored)
            {
                int n;
                try
                {
                    n = failed.Read(position, buffer.AsSpan(0, (int)Math.Min(CopyBlock, stored - position)));
                }
                catch (Exception ex)
                {
                    _logger.LogError("Output of {Id}: {Bytes} bytes on {Provider} could not be read back ({Error})",
                        _commandId, stored - position, failed.Provider.Name, ex.Message);
                    break;
                }
                if (n == 0)
                {
                    break;
                }
                to.Append(buffer.AsSpan(0, n));
                position += n;
            }
            var lost = stored - position;
            if (position == 0)
            {
                return (fromStart + stored, lost);
            }
            buffer.AsSpan(0, CopyBlock).Clear();
            while (position < stored)
            {
                var n = (int)Math.Min(CopyBlock, stored - position);
                to.Append(buffer.AsSpan(0, n));
                position += n;
            }
            return (fromStart, lost);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void DeleteSink(IOutputSink sink)
    {
        try
        {
            sink.Delete();
        }
        catch (Exception ex)
        {
            _logger.LogDebug("Output of {Id}: deleting a sink on {Provider} failed: {Error}", _commandId, sink.Provider.Name, ex.Message);
        }
        finally
        {
            sink.Dispose();
        }
    }
}

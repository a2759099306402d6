using System.Buffers;
using System.Collections.Immutable;
using System.Threading.Channels;
using Execd.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Commands;

/// <summary>One item a live reader receives: a chunk of output, or a keep-alive tick.</summary>
public readonly record struct OutputChunk(OutputStream Stream, ReadOnlyMemory<byte> Data)
{
    public static OutputChunk Tick => default;
    public bool IsTick => Stream == 0;
}

/// <summary>
/// A command's output: an ordered byte log with absolute offsets, stored on the best-ranked storage
/// provider and fanned out to live readers straight from memory. When the sink throws, the log moves to
/// the next provider, copying what the failed sink still reads back (an open file survives the
/// deletion of its directory), and carries on at the same offsets; live readers never notice.
/// </summary>
public sealed class OutputLog : IOutputWriter
{
    private const int CopyBlock = 64 * 1024;
    private readonly string _commandId;
    private readonly StorageRanking _storage;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private ImmutableArray<Channel<OutputChunk>> _readers = [];
    private IOutputSink? _sink;
    private long _sinkBase;   // absolute offset of the sink's byte 0
    private long _length;
    private long _unstored;   // bytes no provider could take
    private bool _completed;
    private readonly List<string> _providers = [];

    public OutputLog(string commandId, StorageRanking storage, ILogger logger)
    {
        _commandId = commandId;
        _storage = storage;
        _logger = logger;
        lock (_gate)
        {
            _sink = OpenOnBest([], ReadOnlySpan<byte>.Empty, null);
        }
    }

    /// <summary>Total bytes written (the absolute end offset).</summary>
    public long Length { get { lock (_gate) { return _length; } } }

    /// <summary>The provider holding the output now, or null if none could.</summary>
    public string? Provider { get { lock (_gate) { return _sink?.Provider.Name; } } }

    /// <summary>Every provider that held this log, in order; more than one means it moved.</summary>
    public IReadOnlyList<string> ProviderHistory { get { lock (_gate) { return [.. _providers]; } } }

    /// <summary>Bytes that could not be stored anywhere (still streamed live).</summary>
    public long UnstoredBytes { get { lock (_gate) { return _unstored; } } }

    /// <summary>Offset of the first byte that can still be read.</summary>
    public long FirstReadableOffset { get { lock (_gate) { return _sinkBase; } } }

    public bool IsCompleted { get { lock (_gate) { return _completed; } } }

    /// <summary>Adds a live reader that receives every chunk written from now on. Capacity bounds memory; a full reader applies back-pressure.</summary>
    public ChannelReader<OutputChunk> Subscribe(int capacity = 256)
    {
        var channel = Channel.CreateBounded<OutputChunk>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        lock (_gate)
        {
            if (_completed)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                _readers = _readers.Add(channel);
            }
        }
        return channel.Reader;
    }

    /// <summary>Removes a live reader (its client went away); writers waiting on it are released.</summary>
    public void Unsubscribe(ChannelReader<OutputChunk> reader)
    {
        lock (_gate)
        {
            var channel = _readers.FirstOrDefault(c => c.Reader == reader);
            if (channel is null)
            {
                return;
            }
            _readers = _readers.Remove(channel);
            channel.Writer.TryComplete();
        }
    }

    /// <summary>Sends a keep-alive tick to one live reader, if it has room for it.</summary>
    public void Tick(ChannelReader<OutputChunk> reader)
    {
        var channel = _readers.FirstOrDefault(c => c.Reader == reader);
        channel?.Writer.TryWrite(OutputChunk.Tick);
    }

    public async ValueTask WriteAsync(OutputStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (data.IsEmpty)
        {
            return;
        }
        ImmutableArray<Channel<OutputChunk>> readers;
        lock (_gate)
        {
            Store(data.Span);
            _length += data.Length;
            readers = _readers;
        }
        if (readers.IsEmpty)
        {
            return;
        }
        var chunk = new OutputChunk(stream, data.ToArray());
        foreach (var reader in readers)
        {
            try
            {
                await reader.Writer.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                // The reader left; the bytes are in storage anyway.
            }
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
            _completed = true;
            if (_sink is not null)
            {
                try
                {
                    _sink.Complete();
                }
                catch (Exception ex)
                {
                    _storage.ReportFailure(_sink.Provider, ex);
                    _sink = FailOver(_sink, ReadOnlySpan<byte>.Empty, ex);
                }
            }
            foreach (var r in _readers)
            {
                r.Writer.TryComplete();
            }
            _readers = [];
        }
    }

    /// <summary>
    /// Reads stored bytes from absolute <paramref name="offset"/>. Returns the count, 0 at the end. An
    /// offset before <see cref="FirstReadableOffset"/> reads from there (those bytes were lost).
    /// </summary>
    public int Read(long offset, Span<byte> buffer, out long readFrom)
    {
        lock (_gate)
        {
            readFrom = Math.Max(offset, _sinkBase);
            if (_sink is null || readFrom >= _length)
            {
                return 0;
            }
            try
            {
                return _sink.Read(readFrom - _sinkBase, buffer);
            }
            catch (Exception ex)
            {
                _storage.ReportFailure(_sink.Provider, ex);
                _sink = FailOver(_sink, ReadOnlySpan<byte>.Empty, ex);
                readFrom = Math.Max(offset, _sinkBase);
                return _sink is null || readFrom >= _length ? 0 : _sink.Read(readFrom - _sinkBase, buffer);
            }
        }
    }

    /// <summary>Deletes the stored output (retention).</summary>
    public void Delete()
    {
        lock (_gate)
        {
            try
            {
                _sink?.Delete();
            }
            catch (Exception ex)
            {
                _logger.LogDebug("Deleting output of {Id} failed: {Error}", _commandId, ex.Message);
            }
            _sink?.Dispose();
            _sink = null;
            _sinkBase = _length;
        }
    }

    private void Store(ReadOnlySpan<byte> data)
    {
        if (_sink is null)
        {
            _unstored += data.Length;
            return;
        }
        try
        {
            _sink.Append(data);
        }
        catch (Exception ex)
        {
            _storage.ReportFailure(_sink.Provider, ex);
            _sink = FailOver(_sink, data, ex);
            if (_sink is null)
            {
                _unstored += data.Length;
            }
        }
    }

    private IOutputSink? FailOver(IOutputSink failed, ReadOnlySpan<byte> pending, Exception cause)
    {
        var next = OpenOnBest([failed.Provider], pending, failed);
        try
        {
            failed.Delete();
        }
        catch (Exception ex)
        {
            _logger.LogDebug("Could not delete the failed sink of {Id}: {Error}", _commandId, ex.Message);
        }
        failed.Dispose();
        if (next is null)
        {
            _logger.LogError("Output of {Id}: no storage provider can take it after {Provider} failed ({Error}); output is streamed but not stored",
                _commandId, failed.Provider.Name, cause.Message);
        }
        else
        {
            _logger.LogWarning("Output of {Id} moved from {From} to {To} at offset {Offset} ({Error})",
                _commandId, failed.Provider.Name, next.Provider.Name, _length, cause.Message);
        }
        return next;
    }

    /// <summary>Opens a sink on the best provider not in <paramref name="exclude"/>, copying <paramref name="from"/> and appending <paramref name="pending"/>.</summary>
    private IOutputSink? OpenOnBest(HashSet<IOutputStorageProvider> exclude, ReadOnlySpan<byte> pending, IOutputSink? from)
    {
        foreach (var ranked in _storage.Current)
        {
            var provider = ranked.Provider;
            if (!exclude.Add(provider))
            {
                continue;
            }
            IOutputSink? sink = null;
            try
            {
                sink = provider.Open(_commandId);
                var newBase = from is null ? _length : CopyInto(from, sink);
                sink.Append(pending);
                _sinkBase = newBase;
                _providers.Add(provider.Name);
                return sink;
            }
            catch (Exception ex)
            {
                _storage.ReportFailure(provider, ex);
                if (sink is not null)
                {
                    try { sink.Delete(); } catch (Exception) { /* already failing; the provider was reported */ }
                    sink.Dispose();
                }
            }
        }
        return null;
    }

    /// <summary>Copies what <paramref name="from"/> can still read into <paramref name="to"/>; returns the new base offset.</summary>
    private long CopyInto(IOutputSink from, IOutputSink to)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBlock);
        try
        {
            long position = 0;
            long stored;
            try
            {
                stored = from.Length;
                while (position < stored)
                {
                    var n = from.Read(position, buffer.AsSpan(0, (int)Math.Min(CopyBlock, stored - position)));
                    if (n == 0)
                    {
                        break;
                    }
                    to.Append(buffer.AsSpan(0, n));
                    position += n;
                }
            }
            catch (Exception ex) when (position == 0)
            {
                // Nothing could be read back: the new sink starts where the log is now.
                _logger.LogError("Output of {Id}: {Bytes} bytes on {Provider} could not be read back ({Error})",
                    _commandId, _length - _sinkBase, from.Provider.Name, ex.Message);
                return _length;
            }
            return _sinkBase;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

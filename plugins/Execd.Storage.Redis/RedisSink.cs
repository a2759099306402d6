using Microsoft.Win32.SafeHandles;
using StackExchange.Redis;

namespace Execd.Storage.Redis;

/// <summary>
/// One command's output on Redis: a stream (the fleet copy) and a local spool file (reads, and what the next
/// provider copies when Redis fails). Appends write the spool and queue the bytes; the provider's writer
/// acknowledges them. Not thread-safe for appends (the host serializes them); the writer thread only touches
/// the failure, the acknowledged offset and the TTL clock.
/// </summary>
internal sealed class RedisSink : IOutputSink
{
    private static readonly TimeSpan TtlRefreshEvery = TimeSpan.FromSeconds(1);
    private readonly RedisStorageProvider _provider;
    private readonly string _commandId;
    private readonly string _spoolPath;
    private readonly SafeFileHandle _spool;
    private readonly object _ack = new();
    private long _length;
    private long _acked;
    private long _ttlRefreshedAt;
    private volatile string? _failure;
    private volatile bool _deleted;
    private bool _released;

    private RedisSink(RedisStorageProvider provider, string commandId, string streamKey, string spoolPath, SafeFileHandle spool)
    {
        _provider = provider;
        _commandId = commandId;
        StreamKey = streamKey;
        _spoolPath = spoolPath;
        _spool = spool;
        _ttlRefreshedAt = Environment.TickCount64;
    }

    /// <summary>
    /// Creates the spool file, then (one pipelined round trip after the sink number) the stream, the command's record
    /// and its place in the sandbox's command index. Throws <see cref="IOException"/> when Redis refuses.
    /// </summary>
    public static RedisSink Open(RedisStorageProvider provider, IDatabase db, string commandId)
    {
        var keys = provider.Keys;
        var options = provider.Options;
        Directory.CreateDirectory(options.SpoolDirectory!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var spoolPath = Path.Combine(options.SpoolDirectory!, $"{Sanitize(commandId)}.{Guid.NewGuid():N}.spool");
        var spool = File.OpenHandle(spoolPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            var record = keys.Record(commandId);
            var n = Run(() => db.HashIncrement(record, "sinks"));
            var stream = keys.Stream(commandId, n);
            var now = DateTimeOffset.UtcNow;
            var ttl = options.KeyTtl;
            Run(() => Task.WaitAll(
            [
                db.ExecuteAsync("XADD", stream, "*", "o", 0, "d", RedisValue.EmptyString),
                db.ListRightPushAsync(keys.Sinks(commandId), stream),
                db.HashSetAsync(record, [
                    new("sandbox_id", keys.SandboxId), new("command_id", commandId), new("state", "running"), new("current", stream)]),
                db.HashSetAsync(record, "created_at", now.ToString("O"), When.NotExists),
                db.SortedSetAddAsync(keys.Commands, commandId, now.ToUnixTimeMilliseconds(), SortedSetWhen.NotExists),
                db.SortedSetAddAsync(keys.Sandboxes, keys.SandboxId, now.ToUnixTimeMilliseconds()),
                db.KeyExpireAsync(stream, ttl), db.KeyExpireAsync(record, ttl), db.KeyExpireAsync(keys.Sinks(commandId), ttl),
                db.KeyExpireAsync(keys.Commands, ttl), db.KeyExpireAsync(keys.Sandboxes, ttl),
            ], options.FlushTimeout));
            return new RedisSink(provider, commandId, stream, spoolPath, spool);
        }
        catch
        {
            spool.Dispose();
            File.Delete(spoolPath);
            throw;
        }
    }

    public IOutputStorageProvider Provider => _provider;
    public long Length => _length;
    internal string StreamKey { get; }
    internal bool Failed => _failure is not null;
    internal bool Deleted => _deleted;

    public void Append(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_deleted, this);
        ThrowIfFailed();
        if (data.IsEmpty)
        {
            return;
        }
        if (!_provider.IsConnected)
        {
            throw new IOException($"Redis at {_provider.Location} is not connected{(_provider.LastConnectionFailure is { } why ? $": {why}" : "")}");
        }
        _provider.EnsureRoomFor(data.Length);
        RandomAccess.Write(_spool, data, _length);
        _provider.Hold(data.Length);
        _provider.Enqueue(this, _length, data);
        _length += data.Length;
    }

    public int Read(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_deleted, this);
        if (offset >= _length || buffer.IsEmpty)
        {
            return 0;
        }
        var n = (int)Math.Min(buffer.Length, _length - offset);
        var total = 0;
        while (total < n)
        {
            var read = RandomAccess.Read(_spool, buffer[total..n], offset + total);
            if (read == 0)
            {
                throw new IOException($"spool file {_spoolPath} is shorter than the {_length} bytes written to it");
            }
            total += read;
        }
        return total;
    }

    /// <summary>Waits (bounded) until Redis acknowledged every byte, then marks the stream and the record completed.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_deleted, this);
        var timeout = _provider.Options.FlushTimeout;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_ack)
        {
            while (_acked < _length && _failure is null)
            {
                if (!_provider.IsConnected)
                {
                    throw new IOException($"Redis at {_provider.Location} is not connected; {_length - _acked} bytes of {StreamKey} were not acknowledged");
                }
                var left = deadline - Environment.TickCount64;
                if (left <= 0)
                {
                    throw new IOException($"Redis at {_provider.Location} did not acknowledge {_length - _acked} bytes of {StreamKey} within {timeout}");
                }
                // Bounded waits: a lost connection is noticed even if the writer never reports back.
                Monitor.Wait(_ack, TimeSpan.FromMilliseconds(Math.Min(left, 50)));
            }
        }
        ThrowIfFailed();
        var db = _provider.Database();
        var keys = _provider.Keys;
        var record = keys.Record(_commandId);
        Run(() => Task.WaitAll(
        [
            db.ExecuteAsync("XADD", StreamKey, "NOMKSTREAM", "*", "o", _length, "end", 1),
            db.HashSetAsync(record, [new("state", "completed"), new("completed_at", DateTimeOffset.UtcNow.ToString("O")), new("length", _length)]),
            db.KeyExpireAsync(StreamKey, _provider.Options.KeyTtl), db.KeyExpireAsync(record, _provider.Options.KeyTtl),
            db.KeyExpireAsync(keys.Sinks(_commandId), _provider.Options.KeyTtl),
        ], timeout));
    }

    /// <summary>Deletes the spool and (best effort, not waited for) the stream, as a file provider deletes its file.</summary>
    public void Delete()
    {
        if (_deleted)
        {
            return;
        }
        _deleted = true;
        if (_provider.IsConnected)
        {
            try
            {
                var db = _provider.Database();
                db.KeyDelete(StreamKey, CommandFlags.FireAndForget);
                db.ListRemove(_provider.Keys.Sinks(_commandId), StreamKey, flags: CommandFlags.FireAndForget);
            }
            catch (Exception ex) when (ex is IOException or RedisException)
            {
                // The keys expire on their own.
            }
        }
        Dispose();
    }

    public void Dispose()
    {
        lock (_ack)
        {
            if (_released)
            {
                return;
            }
            _released = true;
            _deleted = true;
            Monitor.PulseAll(_ack);
        }
        _spool.Dispose();
        try
        {
            File.Delete(_spoolPath);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        _provider.Released(_length);
    }

    /// <summary>Called by the writer: Redis acknowledged every byte below <paramref name="end"/>.</summary>
    internal void Acknowledge(long end)
    {
        lock (_ack)
        {
            _acked = Math.Max(_acked, end);
            Monitor.PulseAll(_ack);
        }
    }

    /// <summary>Called by the writer: Redis refused this sink's bytes; the next append or completion throws.</summary>
    internal void Fail(string reason)
    {
        lock (_ack)
        {
            _failure ??= reason;
            Monitor.PulseAll(_ack);
        }
    }

    /// <summary>Called by the writer with each batch: keeps the command's keys alive while it writes (at most once a second).</summary>
    internal void RefreshTtl(IDatabase db)
    {
        var now = Environment.TickCount64;
        if (now - Volatile.Read(ref _ttlRefreshedAt) < TtlRefreshEvery.TotalMilliseconds)
        {
            return;
        }
        Volatile.Write(ref _ttlRefreshedAt, now);
        var ttl = _provider.Options.KeyTtl;
        db.KeyExpire(StreamKey, ttl, flags: CommandFlags.FireAndForget);
        db.KeyExpire(_provider.Keys.Record(_commandId), ttl, flags: CommandFlags.FireAndForget);
        db.KeyExpire(_provider.Keys.Sinks(_commandId), ttl, flags: CommandFlags.FireAndForget);
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure)
        {
            throw failure.Contains("OOM", StringComparison.Ordinal) ? new StorageFullException(failure) : new IOException(failure);
        }
    }

    /// <summary>Runs a Redis call, turning its failures into the <see cref="IOException"/> the host expects from storage.</summary>
    private static T Run<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (AggregateException ex) when (ex.GetBaseException() is RedisException or TimeoutException)
        {
            throw Translate(ex.GetBaseException());
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw Translate(ex);
        }
    }

    private static void Run(Func<bool> call)
    {
        if (!Run<bool>(call))
        {
            throw new IOException("Redis did not answer in time");
        }
    }

    private static IOException Translate(Exception ex) =>
        ex.Message.Contains("OOM", StringComparison.Ordinal) ? new StorageFullException($"Redis is full: {ex.Message}") : new IOException($"Redis: {ex.Message}", ex);

    private static string Sanitize(string id) =>
        string.Concat(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}

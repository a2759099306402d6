using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Execd.Storage.Redis;

/// <summary>
/// Stores output in Redis Streams (schema: <see cref="RedisKeys"/>). Appends never wait for Redis: a sink writes
/// its local spool file and queues the bytes; one background writer sends them with XADD, pipelined. A write
/// Redis refuses (connection lost, OOM, stream deleted from outside) fails the sink, and its next append or
/// completion throws, so the host moves the output to the next provider, copying it from the spool at the same
/// offsets.
/// </summary>
[RegisteredByPlugin]
internal sealed class RedisStorageProvider : IOutputStorageProvider, IDisposable
{
    public const string ProviderName = "redis";

    /// <summary>Largest stream entry: a huge line is split into entries of this size.</summary>
    internal const int MaxEntryBytes = 256 * 1024;
    private const int MaxBatchEntries = 512;

    private readonly ILogger _logger;
    private readonly Task<ConnectionMultiplexer> _connecting;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _writer;
    private long _queuedBytes;
    private long _held;
    private int _sinks;
    private readonly TimeSpan _connectTimeout;
    private volatile string? _lastConnectionFailure;
    private int _disposed;

    public RedisStorageProvider(RedisStorageOptions options, ILogger<RedisStorageProvider> logger)
    {
        Options = options;
        _logger = logger;
        Keys = new RedisKeys(options.KeyPrefix, options.SandboxId!);
        var config = ConfigurationOptions.Parse(options.Configuration!);
        // The daemon starts (and keeps retrying) while Redis is down; the health check says why it is unusable.
        config.AbortOnConnectFail = false;
        // INFO (memory headroom in the health check) is an "admin" command to this client.
        config.AllowAdmin = true;
        // A command sent while disconnected fails at once instead of waiting in a backlog: the sink fails over.
        config.BacklogPolicy = BacklogPolicy.FailFast;
        if (options.TrustIssuer is { Length: > 0 } ca)
        {
            // Only certificates this authority signed are accepted (a private CA need not be in the system store).
            config.TrustIssuer(ca);
        }
        Location = string.Join(",", config.EndPoints.Select(e => e.ToString())) + (config.Ssl ? " (tls)" : "");
        _connectTimeout = TimeSpan.FromMilliseconds(config.ConnectTimeout + 500);
        _connecting = Connect(config);
        _writer = Task.Run(WriteLoopAsync);
    }

    public string Name => ProviderName;
    public string Kind => "redis";

    /// <summary>The endpoints (never the password).</summary>
    public string Location { get; }
    public long BytesHeld => Interlocked.Read(ref _held);
    public int SinksHeld => Volatile.Read(ref _sinks);

    internal RedisStorageOptions Options { get; }
    internal RedisKeys Keys { get; }
    internal long QueuedBytes => Interlocked.Read(ref _queuedBytes);
    internal string? LastConnectionFailure => _lastConnectionFailure;

    /// <summary>The connection once it exists, whether or not it is connected now.</summary>
    internal ConnectionMultiplexer? Multiplexer => _connecting.IsCompletedSuccessfully ? _connecting.Result : null;

    internal bool IsConnected => Multiplexer?.IsConnected == true;

    /// <summary>The database, or an <see cref="IOException"/> saying why Redis cannot be used now.</summary>
    internal IDatabase Database()
    {
        if (_connecting.IsFaulted)
        {
            throw new IOException($"Redis at {Location}: {_connecting.Exception!.GetBaseException().Message}");
        }
        if (!_connecting.IsCompleted)
        {
            // The first connection attempt is bounded by the connect timeout; wait for it once rather than fail the
            // first commands of a daemon that just started.
            ((IAsyncResult)_connecting).AsyncWaitHandle.WaitOne(_connectTimeout);
        }
        var mux = Multiplexer ?? throw new IOException($"Redis at {Location}: still connecting");
        if (!mux.IsConnected)
        {
            throw new IOException($"Redis at {Location} is not connected{(_lastConnectionFailure is { } why ? $": {why}" : "")}");
        }
        return mux.GetDatabase();
    }

    public IOutputSink Open(string commandId)
    {
        var db = Database();
        var sink = RedisSink.Open(this, db, commandId);
        Interlocked.Increment(ref _sinks);
        return sink;
    }

    internal void Hold(long bytes) => Interlocked.Add(ref _held, bytes);

    internal void Released(long bytes)
    {
        Interlocked.Add(ref _held, -bytes);
        Interlocked.Decrement(ref _sinks);
    }

    /// <summary>Queues bytes for XADD; refuses when Redis is too far behind, so a slow Redis never grows memory without bound.</summary>
    internal void Enqueue(RedisSink sink, long offset, ReadOnlySpan<byte> data)
    {
        for (var i = 0; i < data.Length; i += MaxEntryBytes)
        {
            var piece = data.Slice(i, Math.Min(MaxEntryBytes, data.Length - i)).ToArray();
            Interlocked.Add(ref _queuedBytes, piece.Length);
            _queue.Writer.TryWrite(new Pending(sink, offset + i, piece));
        }
    }

    internal void EnsureRoomFor(int bytes)
    {
        var queued = QueuedBytes;
        if (queued + bytes > Options.MaxQueuedBytes)
        {
            throw new StorageFullException($"Redis at {Location} is {queued} bytes behind (limit {Options.MaxQueuedBytes})");
        }
    }

    private sealed record Pending(RedisSink Sink, long Offset, byte[] Data);

    private async Task<ConnectionMultiplexer> Connect(ConfigurationOptions config)
    {
        // The connect log is the only place the first attempt's failure (e.g. authentication) is told.
        using var log = new StringWriter();
        var mux = await ConnectionMultiplexer.ConnectAsync(config, log).ConfigureAwait(false);
        mux.ConnectionFailed += (_, e) =>
        {
            _lastConnectionFailure = $"{e.FailureType}{(e.Exception is { } ex ? $" ({ex.GetBaseException().Message})" : "")}";
            _logger.LogWarning("Redis connection to {Endpoint} failed: {Failure}", e.EndPoint, _lastConnectionFailure);
        };
        mux.ConnectionRestored += (_, e) =>
        {
            _lastConnectionFailure = null;
            _logger.LogInformation("Redis connection to {Endpoint} restored", e.EndPoint);
        };
        if (!mux.IsConnected)
        {
            _lastConnectionFailure ??= FirstFailure(log.ToString(), config.Password) ?? "could not connect";
            _logger.LogWarning("Redis at {Location} is not reachable yet; retrying in the background", Location);
        }
        return mux;
    }

    /// <summary>The connect log's first line that says what failed (without its timestamp, and without the password should it appear).</summary>
    private static string? FirstFailure(string log, string? password)
    {
        var lines = log.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"^\d\d:\d\d:\d\d\.\d+:\s*", ""))
            .ToList();
        // "Connection failed: host:port (Interactive, AuthenticationFailure): ..." names the failure type; the detail after it is noise.
        var line = lines.Where(l => l.StartsWith("Connection failed:", StringComparison.Ordinal))
                .Select(l => l.IndexOf("): ", StringComparison.Ordinal) is var end and > 0 ? l[..(end + 1)] : l)
                .FirstOrDefault()
            ?? lines.FirstOrDefault(l => l.Contains("NOAUTH", StringComparison.Ordinal) || l.Contains("WRONGPASS", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }
        line = string.IsNullOrEmpty(password) ? line : line.Replace(password, "***", StringComparison.Ordinal);
        return line.Length > 300 ? line[..300] + "..." : line;
    }

    /// <summary>
    /// Sends queued bytes in batches: consecutive pieces of one sink become one entry (up to
    /// <see cref="MaxEntryBytes"/>), all XADDs of a batch are pipelined, then awaited together.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Pending>(MaxBatchEntries);
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < MaxBatchEntries && reader.TryRead(out var p))
                {
                    batch.Add(p);
                }
                await SendAsync(batch).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SendAsync(List<Pending> batch)
    {
        var sends = new List<(RedisSink Sink, long End, int Bytes, Task<RedisResult>? Task)>();
        IDatabase? db = null;
        string? unusable = null;
        try
        {
            db = Database();
        }
        catch (IOException ex)
        {
            unusable = ex.Message;
        }
        for (var i = 0; i < batch.Count;)
        {
            var first = batch[i];
            var j = i + 1;
            var size = first.Data.Length;
            while (j < batch.Count && batch[j].Sink == first.Sink && size + batch[j].Data.Length <= MaxEntryBytes)
            {
                size += batch[j].Data.Length;
                j++;
            }
            var data = first.Data;
            if (j - i > 1)
            {
                data = new byte[size];
                var at = 0;
                for (var k = i; k < j; k++)
                {
                    batch[k].Data.CopyTo(data, at);
                    at += batch[k].Data.Length;
                }
            }
            Task<RedisResult>? task = null;
            if (db is not null && !first.Sink.Failed && !first.Sink.Deleted)
            {
                // NOMKSTREAM: a stream deleted from outside is not silently re-created with a hole at its start.
                task = db.ExecuteAsync("XADD", first.Sink.StreamKey, "NOMKSTREAM", "*", "o", first.Offset, "d", data);
            }
            sends.Add((first.Sink, first.Offset + size, size, task));
            i = j;
        }
        foreach (var sink in sends.Select(s => s.Sink).Distinct())
        {
            if (db is not null && !sink.Failed && !sink.Deleted)
            {
                sink.RefreshTtl(db);
            }
        }
        foreach (var (sink, end, bytes, task) in sends)
        {
            try
            {
                if (task is null)
                {
                    if (unusable is not null)
                    {
                        sink.Fail(unusable);
                    }
                }
                else if ((await task.ConfigureAwait(false)).IsNull)
                {
                    sink.Fail($"stream {sink.StreamKey} was deleted from outside");
                }
                else
                {
                    sink.Acknowledge(end);
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                sink.Fail($"Redis at {Location} refused a write: {ex.Message}");
            }
            finally
            {
                Interlocked.Add(ref _queuedBytes, -bytes);
            }
        }
    }

    /// <summary>The memory section of <c>INFO</c> from the server (INFO through EXECUTE needs admin mode; IServer.Info does not).</summary>
    internal async Task<(long Used, long Max, long System)> MemoryAsync()
    {
        var mux = Multiplexer ?? throw new IOException($"Redis at {Location}: still connecting");
        var server = mux.GetServers().FirstOrDefault(s => s.IsConnected) ?? throw new IOException($"Redis at {Location} is not connected");
        var info = await server.InfoAsync("memory").ConfigureAwait(false);
        var values = info.SelectMany(g => g).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        long Get(string key) => values.TryGetValue(key, out var v) && long.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
        return (Get("used_memory"), Get("maxmemory"), Get("total_system_memory"));
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        // Give queued bytes a bounded chance to reach Redis before the connection closes.
        var deadline = Environment.TickCount64 + (long)Options.FlushTimeout.TotalMilliseconds;
        while (QueuedBytes > 0 && IsConnected && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(5);
        }
        _queue.Writer.TryComplete();
        _stop.Cancel();
        try
        {
            _writer.Wait(TimeSpan.FromSeconds(1));
        }
        catch (AggregateException)
        {
        }
        if (Multiplexer is { } mux)
        {
            mux.Dispose();
        }
        else
        {
            _connecting.ContinueWith(t => t.Result.Dispose(), TaskContinuationOptions.OnlyOnRanToCompletion);
        }
        _stop.Dispose();
    }
}

using System.Numerics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Execd.Storage.Memory;

/// <summary>Options of the memory provider (configuration section <c>Storage:Memory</c>).</summary>
internal sealed class MemoryStorageOptions
{
    /// <summary>Bytes all memory sinks together may hold.</summary>
    public long BudgetBytes { get; set; } = 256L * 1024 * 1024;
}

internal sealed class MemoryStoragePlugin : IExecdPlugin
{
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = new MemoryStorageOptions();
        configuration.GetSection("Storage:Memory").Bind(options);
        if (options.BudgetBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(configuration), "Storage:Memory:BudgetBytes must be positive");
        }
        var provider = new MemoryStorageProvider(options.BudgetBytes);
        services.AddSingleton<IOutputStorageProvider>(provider);
        services.AddHealthChecks().AddCheck(provider.Name, new MemoryHealthCheck(provider), HealthStatus.Unhealthy, [StorageHealth.Tag]);
    }
}

/// <summary>Budget left: Healthy above 10 %, Degraded below, the failure status when used up.</summary>
internal sealed class MemoryHealthCheck(MemoryStorageProvider provider) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var budget = provider.BudgetBytes;
        var left = Math.Max(0, budget - provider.BytesHeld);
        var data = new Dictionary<string, object> { [StorageHealth.FreeBytesKey] = left };
        var (status, reason) = left == 0
            ? (context.Registration?.FailureStatus ?? HealthStatus.Unhealthy, $"memory budget of {budget} bytes is used up ({left} left)")
            // A sink's next block may need a whole block: less than that left is close to nothing.
            : left < budget / 10 || left < Math.Min(MemoryStorageProvider.BlockSize, budget)
                ? (HealthStatus.Degraded, $"only {left} of {budget} budget bytes left")
                : (HealthStatus.Healthy, $"{left} of {budget} budget bytes left");
        return Task.FromResult(new HealthCheckResult(status, reason, data: data));
    }
}

/// <summary>
/// Bounded in-process storage: the last resort, always available while its byte budget lasts. Sinks are
/// lists of fixed-size blocks, so memory grows with the output and never holds a copy of it twice.
/// </summary>
[RegisteredByPlugin]
internal sealed class MemoryStorageProvider(long budgetBytes) : IOutputStorageProvider
{
    internal const int BlockSize = 64 * 1024;
    private long _held;
    private int _sinks;

    public string Name => "memory";
    public string Kind => "memory";
    public string Location => "process memory";
    public long BudgetBytes => budgetBytes;
    public long BytesHeld => Interlocked.Read(ref _held);
    public int SinksHeld => Volatile.Read(ref _sinks);

    public IOutputSink Open(string commandId)
    {
        Interlocked.Increment(ref _sinks);
        return new Sink(this);
    }

    private void Reserve(long bytes)
    {
        if (Interlocked.Add(ref _held, bytes) > budgetBytes)
        {
            Interlocked.Add(ref _held, -bytes);
            throw new StorageFullException($"memory storage budget of {budgetBytes} bytes is exhausted");
        }
    }

    private void Release(long bytes, bool sink)
    {
        Interlocked.Add(ref _held, -bytes);
        if (sink)
        {
            Interlocked.Decrement(ref _sinks);
        }
    }

    private sealed class Sink(MemoryStorageProvider provider) : IOutputSink
    {
        private readonly List<byte[]> _blocks = [];
        private const int MinBlock = 1024;
        private long _length;
        private long _capacity;
        private bool _deleted;

        public IOutputStorageProvider Provider => provider;
        public long Length => _length;

        public void Append(ReadOnlySpan<byte> data)
        {
            ObjectDisposedException.ThrowIf(_deleted, this);
            while (!data.IsEmpty)
            {
                var inBlock = (int)(_length % BlockSize);
                var index = (int)(_length / BlockSize);
                if (index == _blocks.Count)
                {
                    // Small outputs are common: the first block starts small and grows; later ones are full size.
                    var size = index == 0 ? Math.Min(BlockSize, Math.Max(MinBlock, (int)BitOperations.RoundUpToPowerOf2((uint)data.Length))) : BlockSize;
                    provider.Reserve(size);
                    _capacity += size;
                    _blocks.Add(NewBlock(size));
                }
                else if (index == 0 && _blocks[0].Length < BlockSize && inBlock + data.Length > _blocks[0].Length)
                {
                    var size = Math.Min(BlockSize, (int)BitOperations.RoundUpToPowerOf2((uint)(inBlock + data.Length)));
                    provider.Reserve(size - _blocks[0].Length);
                    _capacity += size - _blocks[0].Length;
                    var grown = NewBlock(size);
                    _blocks[0].AsSpan(0, inBlock).CopyTo(grown);
                    _blocks[0] = grown;
                }
                var n = Math.Min(_blocks[index].Length - inBlock, data.Length);
                data[..n].CopyTo(_blocks[index].AsSpan(inBlock));
                _length += n;
                data = data[n..];
            }
        }

        /// <summary>
        /// Full blocks live on the pinned object heap: a long output keeps hundreds of them alive, and on the
        /// small-object heap every gen0/gen1 collection would copy them again (background output into memory ran
        /// at a fraction of a plain file write). Uninitialized: only the first <see cref="_length"/> bytes are read.
        /// </summary>
        private static byte[] NewBlock(int size) =>
            size == BlockSize ? GC.AllocateUninitializedArray<byte>(size, pinned: true) : new byte[size];

        public int Read(long offset, Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_deleted, this);
            var total = 0;
            while (total < buffer.Length && offset < _length)
            {
                var block = _blocks[(int)(offset / BlockSize)];
                var inBlock = (int)(offset % BlockSize);
                var n = (int)Math.Min(Math.Min(BlockSize - inBlock, buffer.Length - total), _length - offset);
                block.AsSpan(inBlock, n).CopyTo(buffer[total..]);
                total += n;
                offset += n;
            }
            return total;
        }

        public void Complete()
        {
        }

        public void Delete() => Dispose();

        public void Dispose()
        {
            if (_deleted)
            {
                return;
            }
            _deleted = true;
            provider.Release(_capacity, sink: true);
            _blocks.Clear();
        }
    }
}

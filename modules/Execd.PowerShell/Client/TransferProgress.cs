using System.Globalization;
using System.Management.Automation;

namespace Execd.PowerShell.Client;

/// <summary>How far a transfer is, updated by the I/O and read by the pipeline thread for Write-Progress.</summary>
internal sealed class TransferProgress
{
    private long _done;

    public long Done => Interlocked.Read(ref _done);

    public long? Total { get; set; }

    public void Add(int bytes) => Interlocked.Add(ref _done, bytes);

    public ProgressRecord ToRecord(int activityId, string activity, string item)
    {
        var done = Done;
        var status = Total is { } total and > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{done / 1048576.0:N1} of {total / 1048576.0:N1} MiB")
            : string.Create(CultureInfo.InvariantCulture, $"{done / 1048576.0:N1} MiB");
        return new ProgressRecord(activityId, activity, status)
        {
            CurrentOperation = item,
            PercentComplete = Total is { } t and > 0 ? (int)Math.Min(100, done * 100 / t) : -1,
        };
    }
}

/// <summary>
/// Passes everything through to the inner stream and counts the bytes read and written. It keeps the inner
/// stream's seekability and length, so an upload's StreamContent still sends a Content-Length.
/// </summary>
internal sealed class CountingStream(Stream inner, TransferProgress progress) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value) => inner.SetLength(value);

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Count(count);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Count(buffer.Length);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    private int Count(int bytes)
    {
        progress.Add(bytes);
        return bytes;
    }
}

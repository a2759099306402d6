using System.Threading.Channels;

namespace Execd.Core.Storage;

/// <summary>A coalescing wake-up for background loops: run every interval, or sooner when signalled.</summary>
internal sealed class WakeSignal
{
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Wakes the loop (a pending wake-up absorbs this one).</summary>
    public void Set() => _wake.Writer.TryWrite(true);

    /// <summary>Waits for a signal or <paramref name="interval"/>; false once <paramref name="stopping"/> is cancelled.</summary>
    public async Task<bool> WaitAsync(TimeSpan interval, CancellationToken stopping)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        wait.CancelAfter(interval);
        try
        {
            await _wake.Reader.WaitToReadAsync(wait.Token);
            _wake.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            // The interval elapsed.
        }
        catch (OperationCanceledException)
        {
        }
        return !stopping.IsCancellationRequested;
    }
}

namespace Execd.Core.Storage;

/// <summary>A coalescing wake-up for background loops: run every interval, or sooner when signalled.</summary>
/// <remarks>
/// A semaphore of one: no generic channel types for the JIT to compile on the host's start-up path (the loops' first wait
/// runs while the host starts), and no token source and timer per wait.
/// </remarks>
internal sealed class WakeSignal
{
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly Lock _gate = new();

    /// <summary>Wakes the loop (a pending wake-up absorbs this one).</summary>
    public void Set()
    {
        lock (_gate)
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
    }

    /// <summary>Waits for a signal or <paramref name="interval"/>; false once <paramref name="stopping"/> is cancelled.</summary>
    public async Task<bool> WaitAsync(TimeSpan interval, CancellationToken stopping)
    {
        try
        {
            await _signal.WaitAsync(interval, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return !stopping.IsCancellationRequested;
    }
}

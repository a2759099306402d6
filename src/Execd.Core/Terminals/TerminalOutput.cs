using Execd.Core.Commands;

namespace Execd.Core.Terminals;

/// <summary>
/// The writer a terminal's shell prints into: the bytes go to the terminal's command output log (the
/// scrollback), a pipe-mode terminal remembers which stream each run of offsets came from (the log keeps
/// bytes only), and attached connections are woken. Nobody subscribes to the log, so a write never waits for
/// a client: connections read the log at their own pace.
/// </summary>
public sealed class TerminalOutput(OutputLog log) : IOutputWriter
{
    /// <summary>Stream switches remembered for the live split of pipe mode; older ones fall back to stdout.</summary>
    private const int MaxRuns = 65536;

    private readonly object _gate = new();
    private readonly List<(long Start, OutputStream Stream)> _runs = [];
    private TaskCompletionSource _pulse = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public OutputLog Log { get; } = log;

    public ValueTask WriteAsync(OutputStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (data.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }
        lock (_gate)
        {
            // Under the gate: the run's start offset and the bytes' place in the log must agree.
            if (_runs.Count == 0 || _runs[^1].Stream != stream)
            {
                if (_runs.Count == MaxRuns)
                {
                    _runs.RemoveRange(0, MaxRuns / 2);
                }
                _runs.Add((Log.Length, stream));
            }
            // Completes at once: nothing subscribes to a terminal's log, so no reader applies back-pressure.
            var write = Log.WriteAsync(stream, data, cancellationToken);
            if (!write.IsCompletedSuccessfully)
            {
                write.AsTask().GetAwaiter().GetResult();
            }
        }
        Pulse();
        return ValueTask.CompletedTask;
    }

    /// <summary>Wakes every waiting connection (new output, or the shell ended).</summary>
    public void Pulse() => Interlocked.Exchange(ref _pulse, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>A task that completes at the next <see cref="Pulse"/>; take it before checking the log, then wait.</summary>
    public Task NextPulse => Volatile.Read(ref _pulse).Task;

    /// <summary>The stream of the byte at <paramref name="offset"/>, and where that run of the same stream ends (or long.MaxValue).</summary>
    public (OutputStream Stream, long RunEnd) StreamAt(long offset)
    {
        lock (_gate)
        {
            var lo = 0;
            var hi = _runs.Count - 1;
            var found = -1;
            while (lo <= hi)
            {
                var mid = (lo + hi) / 2;
                if (_runs[mid].Start <= offset)
                {
                    found = mid;
                    lo = mid + 1;
                }
                else
                {
                    hi = mid - 1;
                }
            }
            var stream = found >= 0 ? _runs[found].Stream : OutputStream.Stdout;
            var end = found + 1 < _runs.Count ? _runs[found + 1].Start : long.MaxValue;
            if (found < 0 && _runs.Count > 0)
            {
                end = _runs[0].Start;
            }
            return (stream, end);
        }
    }
}

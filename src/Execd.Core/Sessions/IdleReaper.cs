using Microsoft.Extensions.Logging;

namespace Execd.Core.Sessions;

/// <summary>
/// Ends what has been idle longer than a timeout (bash sessions, terminals): one timer looking every quarter of the timeout
/// (between 100 ms and 30 s), each deletion in its own guard so one failure never stops the others. No timer when the
/// timeout is zero (never reap).
/// </summary>
public sealed class IdleReaper : IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _idleTimeout;
    private readonly Func<DateTimeOffset, IEnumerable<string>> _idleSince;
    private readonly Func<string, string, Task<bool>> _delete;
    private readonly ILogger _logger;
    private readonly string _kind;
    private readonly ITimer? _timer;

    /// <param name="idleSince">The ids of what has been idle (not in use) since before the given time.</param>
    /// <param name="delete">Deletes one id with a reason.</param>
    /// <param name="kind">What is reaped, for the log (<c>session</c>, <c>terminal</c>).</param>
    public IdleReaper(TimeProvider time, TimeSpan idleTimeout, Func<DateTimeOffset, IEnumerable<string>> idleSince,
        Func<string, string, Task<bool>> delete, ILogger logger, string kind)
    {
        _time = time;
        _idleTimeout = idleTimeout;
        _idleSince = idleSince;
        _delete = delete;
        _logger = logger;
        _kind = kind;
        if (idleTimeout > TimeSpan.Zero)
        {
            var every = TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(30).Ticks));
            _timer = time.CreateTimer(_ => _ = ReapAsync(), null, every, every);
        }
    }

    /// <summary>One pass: deletes everything idle for longer than the timeout.</summary>
    public async Task ReapAsync()
    {
        foreach (var id in _idleSince(_time.GetUtcNow() - _idleTimeout).ToList())
        {
            try
            {
                await _delete(id, $"reaped after {SessionService.GoDuration(_idleTimeout)} idle").ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Reaping {Kind} {Id} failed", _kind, id);
            }
        }
    }

    public ValueTask DisposeAsync() => _timer?.DisposeAsync() ?? ValueTask.CompletedTask;
}

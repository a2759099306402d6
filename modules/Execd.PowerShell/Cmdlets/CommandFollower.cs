using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>
/// Follows a command's resumable stream (<c>GET /command/{id}/stream</c>) on the pipeline thread until its final event. A dropped
/// connection (daemon restart, network, stalled-reader disconnect) is resumed from the last event id, so no line is missed or
/// repeated; it gives up after <see cref="MaxResumes"/> failed attempts in a row.
/// </summary>
/// <param name="cmdlet">The cmdlet whose client and pipeline thread are used.</param>
/// <param name="id">The command id.</param>
/// <param name="cursor">Resume right after this output offset (null: from the start).</param>
/// <param name="timeoutSec">Gives up with <see cref="TimeoutException"/> after this many seconds (0: never).</param>
internal sealed class CommandFollower(ExecdCmdlet cmdlet, string id, long? cursor, int timeoutSec = 0)
{
    private const int MaxResumes = 20;
    private long? _cursor = cursor;
    private readonly DateTime _deadline = timeoutSec > 0 ? DateTime.UtcNow.AddSeconds(timeoutSec) : DateTime.MaxValue;

    private TimeSpan Remaining()
    {
        if (_deadline == DateTime.MaxValue)
        {
            return Timeout.InfiniteTimeSpan;
        }
        var left = _deadline - DateTime.UtcNow;
        return left > TimeSpan.Zero ? left : throw new TimeoutException();
    }

    /// <summary>Calls <paramref name="onEvent"/> for every event (pings too); returns the final event.</summary>
    public ExecdEvent Follow(Action<ExecdEvent> onEvent)
    {
        var failures = 0;
        while (true)
        {
            EventReader? reader = null;
            try
            {
                reader = cmdlet.Wait(c => cmdlet.Client.OpenStreamAsync(id, _cursor, c).WaitAsync(Remaining(), c));
                while (cmdlet.Wait(c => reader.NextAsync(c).WaitAsync(Remaining(), c)) is { } e)
                {
                    failures = 0;
                    if (e.EventId is { } offset)
                    {
                        _cursor = offset;
                    }
                    onEvent(e);
                    if (e.Type is "execution_complete" or "error")
                    {
                        return e;
                    }
                }
                // The stream ended without a final event: the connection was cut.
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException || (ex is ExecdException { ErrorId: "ExecdUnreachable" }))
            {
                if (failures + 1 > MaxResumes)
                {
                    throw ex as ExecdException ?? ExecdException.Unreachable(cmdlet.Client.Uri, ex);
                }
            }
            finally
            {
                reader?.Dispose();
            }
            if (++failures > MaxResumes)
            {
                throw new ExecdException("ExecdStreamCut", ErrorCategory.ConnectionError, $"the output stream of command {id} kept breaking off");
            }
            var pause = TimeSpan.FromMilliseconds(Math.Min(2000, 100 * failures));
            cmdlet.Wait(async c =>
            {
                await Task.Delay(pause, c).ConfigureAwait(false);
                return 0;
            });
        }
    }
}

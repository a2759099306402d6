using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>
/// Base of every execd cmdlet: <c>-Uri</c>/<c>-AccessToken</c> with their defaults, Ctrl+C cancelling the
/// HTTP call in flight, and one way to turn failures into error records. All network waits block the
/// pipeline thread, so objects are only ever written from that thread.
/// </summary>
public abstract class ExecdCmdlet : ExecdCmdletCore
{
    /// <summary>The daemon's address. Default: <c>Connect-Execd</c>, else <c>$env:EXECD_URI</c>, else http://127.0.0.1:44772.</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? Uri { get; set; }

    /// <summary>The daemon's access token. Default: <c>Connect-Execd</c>, else <c>$env:EXECD_ACCESS_TOKEN</c>.</summary>
    [Parameter]
    public string? AccessToken { get; set; }

    private protected override ExecdConnection ResolveConnection() => ExecdConnection.Resolve(Uri, AccessToken);
}

/// <summary>What every execd cmdlet shares, whatever its parameters.</summary>
public abstract class ExecdCmdletCore : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private ExecdClient? _client;

    private protected abstract ExecdConnection ResolveConnection();

    internal ExecdClient Client => _client ??= new ExecdClient(ResolveConnection());

    protected CancellationToken Cancel => _stopping.Token;

    protected override void StopProcessing() => _stopping.Cancel();

    /// <summary>Waits for <paramref name="call"/> on the pipeline thread; Ctrl+C becomes a stopped pipeline.</summary>
    internal T Wait<T>(Func<CancellationToken, Task<T>> call)
    {
        try
        {
            return call(Cancel).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (Cancel.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Like <see cref="Wait{T}"/>, calling <paramref name="tick"/> on the pipeline thread every 250 ms until the call ends (for Write-Progress).</summary>
    internal void Wait(Func<CancellationToken, Task> call, Action tick)
    {
        try
        {
            var task = call(Cancel);
            while (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromMilliseconds(250)))
            {
                tick();
            }
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (Cancel.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    internal void Wait(Func<CancellationToken, Task> call) => Wait(async c =>
    {
        await call(c).ConfigureAwait(false);
        return true;
    });

    /// <summary>Runs one unit of work for one input; an API failure is reported as an error record (terminating when nothing else could work).</summary>
    internal void Guard(object? target, Action work)
    {
        try
        {
            work();
        }
        catch (ExecdException ex)
        {
            Report(ex, target);
        }
    }

    internal void Report(ExecdException ex, object? target)
    {
        if (ex.Terminating)
        {
            ThrowTerminatingError(ex.ToErrorRecord(target));
        }
        WriteError(ex.ToErrorRecord(target));
    }

    public void Dispose()
    {
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }
}

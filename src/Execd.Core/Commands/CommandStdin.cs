namespace Execd.Core.Commands;

/// <summary>
/// The host's side of a command's stdin pipe: writes are serialized (each request's bytes reach the child in one
/// piece), and closing is final. The executor owns the pipe and disposes it when the command ends.
/// </summary>
public sealed class CommandStdin(Stream pipe)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _closed;

    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>Copies <paramref name="body"/> into the pipe. False when stdin is closed (by the client, or the command ended or closed it).</summary>
    public async Task<bool> WriteAsync(Stream body, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closed)
            {
                return false;
            }
            await body.CopyToAsync(pipe, cancellationToken).ConfigureAwait(false);
            await pipe.FlushAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // EPIPE: the child closed its stdin or exited.
            _closed = true;
            return false;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Closes stdin: the child reads EOF. False when it was already closed.</summary>
    public bool Close()
    {
        if (Interlocked.Exchange(ref _closed, true))
        {
            return false;
        }
        try
        {
            pipe.Dispose();
        }
        catch (IOException)
        {
        }
        return true;
    }
}

using System.Buffers;
using System.IO.Pipes;
using Execd.Processes;

namespace Execd.Executors.Shell;

/// <summary>
/// Moves one of a command's pipes into its output writer: straight from the pipe into storage when the writer can take bytes
/// that way (<see cref="IOutputWriter.WriteFromPipe"/>, waiting for the pipe with <see cref="PipeReadiness"/>), else read and
/// written. No timer ever stops it: it reads until EOF or, once the
/// main process has exited (<see cref="DrainAfterExit"/>), until the pipe is empty — every byte written before the
/// exit is in the pipe by then, so all of it is handed to the writer. The writer may make it wait (slow readers);
/// nothing cancels that wait.
/// </summary>
internal sealed class PipePump
{
    private const int BufferSize = 64 * 1024;
    private const int LargeBufferSize = 1024 * 1024;

    private readonly PipeStream _pipe;
    private readonly OutputStream _stream;
    private readonly IOutputWriter _output;
    private readonly CancellationTokenSource _cancelIdleRead = new();
    private volatile bool _exited;
    private volatile bool _handedOver;
    private long _readAfterExit;
    private long _afterExitBudget;

    public PipePump(PipeStream pipe, OutputStream stream, IOutputWriter output)
    {
        _pipe = pipe;
        _stream = stream;
        _output = output;
        Completion = RunAsync();
    }

    /// <summary>Completes when the pipe reached EOF or the post-exit drain is done.</summary>
    public Task Completion { get; }

    /// <summary>Whether the pipe reached EOF (no process holds its write end any more).</summary>
    public bool AtEof { get; private set; }

    /// <summary>
    /// The main process has exited: read everything that is in the pipe now, then stop. Bytes written later by
    /// processes it left behind are late output (see <see cref="DiscardLateOutputAsync"/>).
    /// </summary>
    public void DrainAfterExit()
    {
        var available = ChildProcess.BytesAvailable(_pipe);
        // Processes left behind may keep the pipe full for ever: after what was there at the exit (plus one chunk
        // that may have been in flight), an empty pipe is no longer waited for.
        Volatile.Write(ref _afterExitBudget, available + LargeBufferSize);
        _exited = true;
        if (available == 0)
        {
            // Wakes a read that waits for bytes nobody may ever write; a read that already took bytes still returns them.
            _cancelIdleRead.Cancel();
        }
    }

    /// <summary>
    /// The daemon is stopping and leaves the command to the next daemon: finish handing on the chunk already read, then stop
    /// reading (a pending read is cancelled before it takes anything), so every byte is either stored or still in the pipe.
    /// </summary>
    public void HandOver()
    {
        _handedOver = true;
        try
        {
            _cancelIdleRead.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already closed: nothing is being read.
        }
    }

    /// <summary>Whether <see cref="HandOver"/> stopped it (the pipe still holds what was not read).</summary>
    public bool HandedOver => _handedOver;

    private bool Drained() => _handedOver ||
        _exited && (ChildProcess.BytesAvailable(_pipe) == 0 || Volatile.Read(ref _readAfterExit) >= Volatile.Read(ref _afterExitBudget));

    private async Task RunAsync()
    {
        await Task.Yield();
        var size = BufferSize;
        byte[]? buffer = null;
        var handle = _pipe.SafePipeHandle;
        try
        {
            while (!Drained())
            {
                // Moved straight into storage when it is a file (nothing in the daemon's hands that a crash could lose), else read.
                var n = _output.WriteFromPipe(_stream, handle, size);
                if (n == -1)
                {
                    try
                    {
                        await PipeReadiness.WaitAsync(handle, _cancelIdleRead.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    continue;
                }
                if (n == -2)
                {
                    buffer ??= ArrayPool<byte>.Shared.Rent(size);
                    try
                    {
                        n = await _pipe.ReadAsync(buffer.AsMemory(0, size), _cancelIdleRead.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    if (n > 0)
                    {
                        await _output.WriteAsync(_stream, buffer.AsMemory(0, n), CancellationToken.None).ConfigureAwait(false);
                    }
                }
                if (n == 0)
                {
                    AtEof = true;
                    return;
                }
                if (_exited)
                {
                    Interlocked.Add(ref _readAfterExit, n);
                }
                if (n == size && size == BufferSize)
                {
                    // A full read: a bulk producer. Each read costs the daemon two wake-ups (poll, then the read on
                    // the thread pool), and on a busy machine each waits for a time slice; with the default 64 KiB
                    // pipe that capped bulk output far below a plain `cat`. A larger pipe and buffer move more per
                    // wake-up; commands with little output keep the small buffer.
                    size = LargeBufferSize;
                    if (buffer is not null)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = ArrayPool<byte>.Shared.Rent(size);
                    }
                    ChildProcess.GrowPipe(_pipe, LargeBufferSize);
                }
            }
        }
        catch (IOException)
        {
            AtEof = true; // the pipe broke: nothing more can be read
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// After the command completed, processes it left behind may still hold the pipe: keep reading (and dropping)
    /// what they write until they close it, so they neither block on a full pipe nor die of SIGPIPE, then close
    /// our end. Returns the number of late bytes.
    /// </summary>
    public async Task<long> DiscardLateOutputAsync()
    {
        long late = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (!AtEof)
            {
                var n = await _pipe.ReadAsync(buffer.AsMemory(0, BufferSize)).ConfigureAwait(false);
                AtEof = n == 0;
                late += n;
            }
        }
        catch (IOException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _pipe.Dispose();
            _cancelIdleRead.Dispose();
        }
        return late;
    }

    /// <summary>Closes our end of the pipe (after EOF).</summary>
    public void Close()
    {
        _pipe.Dispose();
        _cancelIdleRead.Dispose();
    }
}

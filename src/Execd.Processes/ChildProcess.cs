using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;

namespace Execd.Processes;

/// <summary>
/// A child started by <see cref="Launcher"/>: leader of its own session and process group (pgid = sid = pid),
/// with its stdout and stderr pipes (and stdin pipe, when asked). Dispose closes every descriptor it holds;
/// the pidfd is closed when the child is reaped.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly TaskCompletionSource<WaitStatus> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private int _pidFd;

    internal ChildProcess(int pid, int pidFd, int stdoutFd, int stderrFd, int stdinFd)
    {
        Pid = pid;
        _pidFd = pidFd;
        Stdout = OpenPipe(stdoutFd, PipeDirection.In);
        Stderr = OpenPipe(stderrFd, PipeDirection.In);
        Stdin = stdinFd >= 0 ? OpenPipe(stdinFd, PipeDirection.Out) : null;
    }

    public int Pid { get; }

    internal int PidFd => _pidFd;

    /// <summary>The read end of the child's stdout.</summary>
    public PipeStream Stdout { get; }

    /// <summary>The read end of the child's stderr.</summary>
    public PipeStream Stderr { get; }

    /// <summary>The write end of the child's stdin, when it was launched with a stdin pipe; otherwise stdin is /dev/null.</summary>
    public PipeStream? Stdin { get; }

    /// <summary>Completes with the real wait status once the child has been reaped.</summary>
    public Task<WaitStatus> Exited => _exited.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    // Socket-backed pipe streams: reads are asynchronous (epoll), so hundreds of children do not park thread-pool threads.
    private static AnonymousPipeClientStream OpenPipe(int fd, PipeDirection direction) =>
        new(direction, new SafePipeHandle(fd, ownsHandle: true));

    /// <summary>Sends <paramref name="signal"/> to the child itself through its pidfd (never to a recycled pid).</summary>
    public bool Signal(int signal)
    {
        lock (_lock)
        {
            return _pidFd >= 0 && Native.pidfd_send_signal(_pidFd, signal) == 0;
        }
    }

    internal void OnReaped(WaitStatus status)
    {
        lock (_lock)
        {
            Native.close(_pidFd);
            _pidFd = -1;
        }
        _exited.TrySetResult(status);
    }

    /// <summary>Bytes waiting unread in the stdout or stderr pipe right now (FIONREAD).</summary>
    public static unsafe long BytesAvailable(PipeStream pipe)
    {
        if (pipe.SafePipeHandle is not { IsInvalid: false, IsClosed: false } handle)
        {
            return 0;
        }
        int n = 0;
        return Native.ioctl((int)handle.DangerousGetHandle(), Native.FIONREAD, &n) == 0 ? n : 0;
    }

    /// <summary>Asks the kernel for a larger pipe buffer (best effort: the kernel caps it; failing is harmless).</summary>
    public static void GrowPipe(PipeStream pipe, int size)
    {
        if (pipe.SafePipeHandle is { IsInvalid: false, IsClosed: false } handle)
        {
            _ = Native.fcntl((int)handle.DangerousGetHandle(), Native.F_SETPIPE_SZ, size);
        }
    }

    public void Dispose()
    {
        Stdin?.Dispose();
        Stdout.Dispose();
        Stderr.Dispose();
    }
}

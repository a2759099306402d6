using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Execd.Processes;

/// <summary>
/// Waits until a pipe has bytes to read (or no writer left) without reading any: one epoll instance and one thread for
/// the whole daemon. A reader that must not take bytes into memory before they are stored (the output pumps, which move
/// them into storage with splice(2)) waits here; .NET's own pipe and socket streams cannot wait without reading (a
/// zero-byte read of a pipe returns at once).
/// </summary>
public static unsafe class PipeReadiness
{
    private static readonly ConcurrentDictionary<long, Waiter> Waiters = new();
    private static readonly Lock StartLock = new();
    private static int _epoll = -1;
    private static long _nextId;

    private sealed class Waiter(SafeHandle pipe, int fd)
    {
        public readonly TaskCompletionSource Ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public SafeHandle Pipe { get; } = pipe;
        public int Fd { get; } = fd;
        public CancellationTokenRegistration Cancellation { get; set; }
    }

    /// <summary>
    /// Completes when <paramref name="pipe"/> (a pipe's read end) can be read without blocking: it holds bytes, or every
    /// writer closed it. Cancelled by <paramref name="cancellationToken"/>. One wait per pipe at a time.
    /// </summary>
    public static Task WaitAsync(SafeHandle pipe, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }
        var epoll = EnsureStarted();
        var added = false;
        pipe.DangerousAddRef(ref added);
        var fd = (int)pipe.DangerousGetHandle();
        var id = Interlocked.Increment(ref _nextId);
        var waiter = new Waiter(pipe, fd);
        Waiters[id] = waiter;
        var ev = stackalloc byte[16];
        *(uint*)ev = Native.EPOLLIN | Native.EPOLLONESHOT;
        *(long*)(ev + Native.EpollDataOffset) = id;
        var spin = new SpinWait();
        while (Native.epoll_ctl(epoll, Native.EPOLL_CTL_ADD, fd, ev) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Native.EEXIST && spin.Count < 1000)
            {
                // A wait on this pipe that just completed is being taken out of the set by the loop (or its cancellation) right now.
                spin.SpinOnce();
                continue;
            }
            Waiters.TryRemove(id, out _);
            pipe.DangerousRelease();
            return Task.FromException(new IOException($"epoll_ctl(ADD, {fd}): {Native.ErrorText(errno)}"));
        }
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Cancellation = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var id = (long)state!;
                if (Waiters.TryRemove(id, out var w))
                {
                    Release(w);
                    w.Ready.TrySetCanceled(token);
                }
            }, id);
        }
        return waiter.Ready.Task;
    }

    // Whoever removes the waiter (the loop on readiness, or its cancellation) takes it out of the epoll set and lets go of the pipe.
    private static void Release(Waiter waiter)
    {
        _ = Native.epoll_ctl(_epoll, Native.EPOLL_CTL_DEL, waiter.Fd, null);
        waiter.Pipe.DangerousRelease();
    }

    private static int EnsureStarted()
    {
        var epoll = Volatile.Read(ref _epoll);
        if (epoll >= 0)
        {
            return epoll;
        }
        lock (StartLock)
        {
            if (_epoll >= 0)
            {
                return _epoll;
            }
            epoll = Native.epoll_create1(Native.EPOLL_CLOEXEC);
            if (epoll < 0)
            {
                throw new IOException("epoll_create1: " + Native.ErrorText(Marshal.GetLastPInvokeError()));
            }
            Volatile.Write(ref _epoll, epoll);
            new Thread(() => Loop(epoll)) { IsBackground = true, Name = "execd pipe readiness" }.Start();
            return epoll;
        }
    }

    private static void Loop(int epoll)
    {
        const int Max = 64;
        var size = Native.EpollEventSize;
        var events = new byte[Max * size];
        while (true)
        {
            int ready;
            fixed (byte* p = events)
            {
                ready = Native.epoll_wait(epoll, p, Max, -1);
            }
            for (var i = 0; i < ready; i++)
            {
                long id;
                fixed (byte* p = events)
                {
                    id = *(long*)(p + i * size + Native.EpollDataOffset);
                }
                if (Waiters.TryRemove(id, out var waiter))
                {
                    Release(waiter);
                    waiter.Cancellation.Dispose();
                    waiter.Ready.TrySetResult();
                }
            }
        }
    }
}

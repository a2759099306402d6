using System.Collections.Concurrent;

namespace Execd.Processes;

/// <summary>
/// Waits for launched children through pidfds: one thread polls every child's pidfd (readable once the child has
/// exited) and collects its status with <c>waitid(P_PIDFD, …)</c>. This leaves .NET's own SIGCHLD handling alone:
/// the runtime only reaps pids it started through <see cref="System.Diagnostics.Process"/> (it reaps every child
/// only when the daemon inherited SIGCHLD as ignored, see the README), so neither side steals the other's statuses,
/// and no thread is parked per child.
/// </summary>
internal static unsafe class Reaper
{
    private static readonly ConcurrentDictionary<int, ChildProcess> Watched = new();
    private static readonly Lock StartLock = new();
    private static int _wakeFd = -1;

    /// <summary>Starts watching <paramref name="child"/>'s pidfd; its <see cref="ChildProcess.Exited"/> completes when it is reaped.</summary>
    public static void Watch(ChildProcess child)
    {
        EnsureStarted();
        Watched[child.PidFd] = child;
        Wake();
    }

    private static void EnsureStarted()
    {
        if (Volatile.Read(ref _wakeFd) >= 0)
        {
            return;
        }
        lock (StartLock)
        {
            if (_wakeFd >= 0)
            {
                return;
            }
            var fd = Native.eventfd(0, Native.O_CLOEXEC | Native.O_NONBLOCK);
            if (fd < 0)
            {
                throw new InvalidOperationException("eventfd: " + Native.ErrorText(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()));
            }
            new Thread(Loop) { IsBackground = true, Name = "execd child reaper" }.Start();
            Volatile.Write(ref _wakeFd, fd);
        }
    }

    private static void Wake()
    {
        long one = 1;
        _ = Native.write(_wakeFd, &one, sizeof(long));
    }

    private static void Loop()
    {
        while (Volatile.Read(ref _wakeFd) < 0)
        {
            Thread.Yield();
        }
        var fds = new Native.PollFd[16];
        while (true)
        {
            var children = Watched.Values.ToArray();
            if (fds.Length < children.Length + 1)
            {
                fds = new Native.PollFd[Math.Max(children.Length + 1, fds.Length * 2)];
            }
            fds[0] = new Native.PollFd { Fd = _wakeFd, Events = Native.POLLIN };
            for (var i = 0; i < children.Length; i++)
            {
                fds[i + 1] = new Native.PollFd { Fd = children[i].PidFd, Events = Native.POLLIN };
            }
            int ready;
            fixed (Native.PollFd* p = fds)
            {
                ready = Native.poll(p, (nuint)(children.Length + 1), -1);
            }
            if (ready <= 0)
            {
                continue; // EINTR
            }
            if (fds[0].Revents != 0)
            {
                long value;
                _ = Native.read(_wakeFd, &value, sizeof(long));
            }
            for (var i = 0; i < children.Length; i++)
            {
                if (fds[i + 1].Revents != 0 && TryReap(children[i], out var status))
                {
                    // Forget the fd before the child closes it: a new child may get the same number at once.
                    Watched.TryRemove(children[i].PidFd, out _);
                    children[i].OnReaped(status);
                }
            }
        }
    }

    private static bool TryReap(ChildProcess child, out WaitStatus status)
    {
        Native.SigInfo info = default;
        status = default;
        var rc = Native.waitid(Native.P_PIDFD, child.PidFd, &info, Native.WEXITED | Native.WNOHANG);
        if (rc != 0)
        {
            // ECHILD: someone else reaped it (only when the runtime reaps every child, see the class comment).
            return true;
        }
        if (info.Pid == 0)
        {
            return false; // not exited yet (spurious wake-up)
        }
        status = info.Code == Native.CLD_EXITED ? WaitStatus.Exited(info.Status) : WaitStatus.Killed(info.Status);
        return true;
    }
}

using System.Runtime.InteropServices;

namespace Execd.Core.Commands;

/// <summary>poll(2) on one pipe's read end: what it holds right now, or a wait until it holds bytes or has no writer left.</summary>
internal static class PipePoll
{
    private const short PollIn = 0x001;
    private const short PollErr = 0x008;
    private const short PollHup = 0x010;

    /// <summary>What the pipe holds right now: bytes, nothing but still a writer (empty), or nothing and no writer (end).</summary>
    public static PipeState Probe(SafeHandle pipe)
    {
        var events = Poll(pipe, 0);
        return (events & PollIn) != 0 ? PipeState.Bytes
            : (events & (PollHup | PollErr)) != 0 ? PipeState.End
            : PipeState.Empty;
    }

    /// <summary>Waits until the pipe has bytes or no writer.</summary>
    public static void Wait(SafeHandle pipe) => Poll(pipe, -1);

    private static short Poll(SafeHandle pipe, int timeoutMs)
    {
        var fd = new PollFd { Fd = (int)pipe.DangerousGetHandle(), Events = PollIn };
        while (true)
        {
            var n = poll(ref fd, 1, timeoutMs);
            if (n >= 0)
            {
                return n == 0 ? (short)0 : fd.Revents;
            }
            if (Marshal.GetLastPInvokeError() != 4 /* EINTR */)
            {
                return PollErr;
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int poll(ref PollFd fds, nuint count, int timeoutMs);
}

internal enum PipeState { Empty, Bytes, End }

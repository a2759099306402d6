using System.Runtime.InteropServices;

namespace Execd.PowerShell.Client;

/// <summary>
/// The local terminal in raw mode while Enter-ExecdTerminal is attached, as ssh does it: no line editing, no echo,
/// no signals from Ctrl+C/Ctrl+Z (they go to the remote shell as bytes), restored on dispose. Reads fd 0 directly:
/// .NET's console stream on a terminal is line-buffered.
/// </summary>
internal sealed partial class RawConsole : IDisposable
{
    private const int StdinFd = 0;
    private const int TcsaNow = 0;
    private const short PollIn = 0x001;

    // struct termios is 60 bytes on Linux (glibc); a larger buffer keeps us clear of any padding difference.
    private readonly byte[] _saved = new byte[128];
    private bool _restored;

    private RawConsole()
    {
    }

    /// <summary>Switches the terminal on fd 0 to raw mode; null when fd 0 is not a terminal.</summary>
    public static RawConsole? Enter()
    {
        var console = new RawConsole();
        if (tcgetattr(StdinFd, console._saved) != 0)
        {
            return null;
        }
        var raw = (byte[])console._saved.Clone();
        cfmakeraw(raw);
        if (tcsetattr(StdinFd, TcsaNow, raw) != 0)
        {
            return null;
        }
        return console;
    }

    /// <summary>Reads what the user typed: 0 after <paramref name="timeoutMs"/> without input, -1 at end of input.</summary>
    public static int Read(byte[] buffer, int timeoutMs)
    {
        var fds = new PollFd { Fd = StdinFd, Events = PollIn };
        var ready = poll(ref fds, 1, timeoutMs);
        if (ready <= 0)
        {
            return ready < 0 && Marshal.GetLastPInvokeError() != 4 /* EINTR */ ? -1 : 0;
        }
        var n = read(StdinFd, buffer, (nuint)buffer.Length);
        return n > 0 ? (int)n : n == 0 ? -1 : Marshal.GetLastPInvokeError() is 4 or 11 ? 0 : -1;
    }

    public void Dispose()
    {
        if (!_restored)
        {
            _restored = true;
            _ = tcsetattr(StdinFd, TcsaNow, _saved);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcgetattr(int fd, [Out] byte[] termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int tcsetattr(int fd, int action, byte[] termios);

    [LibraryImport("libc")]
    private static partial void cfmakeraw([In, Out] byte[] termios);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int poll(ref PollFd fds, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, [Out] byte[] buffer, nuint count);
}

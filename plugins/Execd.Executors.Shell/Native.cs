using System.Runtime.InteropServices;

namespace Execd.Executors.Shell;

internal static partial class Native
{
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);

    internal const int F_SETPIPE_SZ = 1031;

    // fcntl is variadic; with integer arguments only, the fixed-argument call is the same on Linux x64 and arm64.
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int fcntl(int fd, int cmd, int arg);
}

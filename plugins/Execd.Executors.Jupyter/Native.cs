using System.Runtime.InteropServices;

namespace Execd.Executors.Jupyter;

internal static partial class Native
{
    public const int SIGINT = 2;
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);

    [LibraryImport("libc")]
    internal static partial uint geteuid();
}

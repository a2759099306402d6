using System.Runtime.InteropServices;

namespace Execd.Executors.Shell;

internal static partial class Native
{
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);
}

using System.Runtime.InteropServices;

namespace Execd.Executors.BashSession;

internal static partial class Native
{
    internal const int SigKill = 9;
    internal const int SigStop = 19;

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);
}

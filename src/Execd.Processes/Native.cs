using System.Runtime.InteropServices;

namespace Execd.Processes;

/// <summary>glibc and Linux system calls the launcher needs (x64 and arm64 share these numbers and layouts).</summary>
internal static unsafe partial class Native
{
    internal const int SIGHUP = 1, SIGINT = 2, SIGKILL = 9, SIGTERM = 15, SIGCONT = 18, SIGSTOP = 19;

    internal const int O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int open(byte* path, int flags, uint mode);
    internal const int EINTR = 4, ECHILD = 10, ESRCH = 3, ENOENT = 2, EACCES = 13;

    // posix_spawnattr flags (glibc <spawn.h>).
    internal const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;

    // The opaque glibc types are smaller than this (posix_spawnattr_t 336, file actions 80, sigset_t 128 bytes): over-allocate.
    internal const int OpaqueSize = 1024;

    /// <summary>Changes the owner of an open file (here: a pipe), best effort.</summary>
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int fchown(int fd, uint owner, uint group);

    [LibraryImport("libc")]
    internal static partial int posix_spawn(out int pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport("libc")]
    internal static partial int posix_spawn_file_actions_init(void* fileActions);

    [LibraryImport("libc")]
    internal static partial int posix_spawn_file_actions_destroy(void* fileActions);

    [LibraryImport("libc")]
    internal static partial int posix_spawn_file_actions_adddup2(void* fileActions, int fd, int newFd);

    [LibraryImport("libc")]
    internal static partial int posix_spawn_file_actions_addopen(void* fileActions, int fd, byte* path, int flags, uint mode);

    [LibraryImport("libc")]
    internal static partial int posix_spawn_file_actions_addchdir_np(void* fileActions, byte* path);

    /// <summary>glibc 2.34+: closes every descriptor from <paramref name="from"/> up in the child.</summary>
    [LibraryImport("libc")]
    internal static partial int posix_spawn_file_actions_addclosefrom_np(void* fileActions, int from);

    [LibraryImport("libc")]
    internal static partial int posix_spawnattr_init(void* attr);

    [LibraryImport("libc")]
    internal static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport("libc")]
    internal static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport("libc")]
    internal static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport("libc")]
    internal static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport("libc")]
    internal static partial int sigemptyset(void* sigset);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int pipe2(int* fds, int flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint read(int fd, void* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial nint write(int fd, void* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    internal const int FIONREAD = 0x541B;

    // ioctl is variadic; with one pointer argument the fixed-argument call is the same on Linux x64 and arm64.
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int ioctl(int fd, nuint request, int* value);

    internal const int F_SETPIPE_SZ = 1031;

    // fcntl is variadic; with integer arguments only, the fixed-argument call is the same on Linux x64 and arm64.
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int eventfd(uint initval, int flags);

    private const long SYS_pidfd_send_signal = 424, SYS_pidfd_open = 434;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall4(long number, long a1, long a2, long a3, long a4);

    internal static int pidfd_open(int pid) => (int)syscall4(SYS_pidfd_open, pid, 0, 0, 0);

    internal static int pidfd_send_signal(int pidfd, int signal) => (int)syscall4(SYS_pidfd_send_signal, pidfd, signal, 0, 0);

    internal const int P_PIDFD = 3, WEXITED = 4, WNOHANG = 1;
    internal const int CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3;

    /// <summary>siginfo_t is 128 bytes; for SIGCHLD: si_code at 8, si_pid at 16, si_status at 24 (64-bit Linux).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    internal struct SigInfo
    {
        [FieldOffset(0)] public int Signo;
        [FieldOffset(8)] public int Code;
        [FieldOffset(16)] public int Pid;
        [FieldOffset(24)] public int Status;
    }

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int waitid(int idType, int id, SigInfo* info, int options);

    internal const short POLLIN = 0x1, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    internal const int EPOLL_CLOEXEC = 0x80000, EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    internal const uint EPOLLIN = 0x1, EPOLLONESHOT = 1u << 30;
    internal const int EEXIST = 17, EAGAIN = 11;

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int epoll_create1(int flags);

    // struct epoll_event is packed (12 bytes) on x86-64 and 16 bytes elsewhere: callers pass a buffer laid out per
    // EpollEventSize/EpollDataOffset.
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int epoll_wait(int epfd, byte* events, int maxEvents, int timeoutMs);

    internal static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    internal static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    internal static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}

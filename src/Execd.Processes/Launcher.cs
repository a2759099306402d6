using System.Runtime.InteropServices;
using System.Text;

namespace Execd.Processes;

/// <summary>What to launch.</summary>
public sealed record LaunchOptions
{
    /// <summary>Absolute path of the program.</summary>
    public required string Program { get; init; }

    /// <summary>Arguments after argv[0] (argv[0] is <see cref="Program"/>).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The child's complete environment.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Working directory, or null for the daemon's own.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Give the child a stdin pipe (<see cref="ChildProcess.Stdin"/>) instead of <c>/dev/null</c>.</summary>
    public bool StdinPipe { get; init; }

    /// <summary>Run as this uid (with <see cref="Gid"/> and <see cref="Groups"/>), through <c>setpriv</c>.</summary>
    public uint? Uid { get; init; }

    public uint? Gid { get; init; }

    public IReadOnlyList<uint> Groups { get; init; } = [];

    /// <summary>
    /// Give the child read-write ends of its stdout and stderr pipes (reopened through <c>/proc/self/fd</c>), so it always holds a
    /// reader too: when the daemon dies its writes neither fail nor raise SIGPIPE (they wait in the pipe, then block once it is full),
    /// and the next daemon opens the same pipes as <c>/proc/PID/fd/N</c> and reads on from where the last one stopped. No file name
    /// is made: nothing touches a disk (named FIFOs on a journaled filesystem cost a journal update per create, write and unlink).
    /// Without <c>/proc</c> the child gets plain pipe ends.
    /// </summary>
    public bool ChildHoldsReader { get; init; }
}

/// <summary>The child could not be started; <see cref="Exception.Message"/> says why in the client's terms.</summary>
public sealed class LaunchException(string message, int errno) : Exception(message)
{
    public int Errno { get; } = errno;
}

/// <summary>
/// Starts children with one <c>posix_spawn</c> (glibc: clone(CLONE_VM|CLONE_VFORK) + exec, no intermediate program):
/// a new session and process group (<c>POSIX_SPAWN_SETSID</c>), default dispositions for every signal and an empty
/// signal mask whatever the daemon inherited (a daemon started with <c>&amp;</c> from a script ignores INT and QUIT),
/// stdin <c>/dev/null</c> or a pipe, stdout and stderr pipes, and every other descriptor closed
/// (<c>addclosefrom_np(3)</c>, so no daemon descriptor leaks even if it lacks close-on-exec).
/// </summary>
public static unsafe class Launcher
{
    private static readonly string? SetPriv = ExecutablePath.Find("setpriv");

    public static ChildProcess Start(LaunchOptions options)
    {
        var (program, args) = WithCredentials(options);
        var stdout = stackalloc int[2] { -1, -1 };
        var stderr = stackalloc int[2] { -1, -1 };
        var stdin = stackalloc int[2] { -1, -1 };
        var allocations = new List<nint>();
        var fileActions = NativeMemory.AllocZeroed(Native.OpaqueSize);
        var attr = NativeMemory.AllocZeroed(Native.OpaqueSize);
        var sigset = NativeMemory.AllocZeroed(Native.OpaqueSize);
        var actionsReady = false;
        var attrReady = false;
        var pid = -1;
        try
        {
            // Close-on-exec on the parent's ends; dup2 onto 0-2 clears it for the child's copies.
            Pipe(stdout);
            Pipe(stderr);
            if (options.ChildHoldsReader)
            {
                // A child running as a uid must be able to reopen its own pipes through /proc (its exit trap drains them when no
                // daemon runs); a pipe is owned by its creator (root here, 0600), so it is handed to that uid before the spawn.
                if (options.Uid is { } owner)
                {
                    _ = Native.fchown(stdout[0], owner, options.Gid ?? owner);
                    _ = Native.fchown(stderr[0], owner, options.Gid ?? owner);
                }
                ReopenReadWrite(stdout, allocations);
                ReopenReadWrite(stderr, allocations);
            }
            if (options.StdinPipe)
            {
                Pipe(stdin);
            }
            Check(Native.posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
            actionsReady = true;
            if (options.StdinPipe)
            {
                Check(Native.posix_spawn_file_actions_adddup2(fileActions, stdin[0], 0), "adddup2");
            }
            else
            {
                Check(Native.posix_spawn_file_actions_addopen(fileActions, 0, Utf8("/dev/null", allocations), Native.O_RDONLY, 0), "addopen");
            }
            Check(Native.posix_spawn_file_actions_adddup2(fileActions, stdout[1], 1), "adddup2");
            Check(Native.posix_spawn_file_actions_adddup2(fileActions, stderr[1], 2), "adddup2");
            Check(Native.posix_spawn_file_actions_addclosefrom_np(fileActions, 3), "addclosefrom_np");
            if (!string.IsNullOrEmpty(options.WorkingDirectory))
            {
                Check(Native.posix_spawn_file_actions_addchdir_np(fileActions, Utf8(options.WorkingDirectory, allocations)), "addchdir_np");
            }

            Check(Native.posix_spawnattr_init(attr), "posix_spawnattr_init");
            attrReady = true;
            Check(Native.posix_spawnattr_setflags(attr, Native.POSIX_SPAWN_SETSID | Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK), "setflags");
            // Every signal 1-64 to SIG_DFL. Not sigfillset: it leaves out glibc's internal signals 32 and 33, which
            // glibc's posix_spawn then sets to SIG_IGN in the child (seen as SigIgn 0x180000000 in every command).
            *(ulong*)sigset = ulong.MaxValue;
            Check(Native.posix_spawnattr_setsigdefault(attr, sigset), "setsigdefault");
            Native.sigemptyset(sigset);
            Check(Native.posix_spawnattr_setsigmask(attr, sigset), "setsigmask");

            var argv = StringArray([program, .. args], allocations);
            var envp = StringArray([.. options.Environment.Select(kv => kv.Key + "=" + kv.Value)], allocations);
            var rc = Native.posix_spawn(out pid, Utf8(program, allocations), fileActions, attr, argv, envp);
            if (rc != 0)
            {
                throw new LaunchException(StartError(options, program, rc), rc);
            }
        }
        finally
        {
            if (actionsReady)
            {
                Native.posix_spawn_file_actions_destroy(fileActions);
            }
            if (attrReady)
            {
                Native.posix_spawnattr_destroy(attr);
            }
            NativeMemory.Free(fileActions);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigset);
            foreach (var p in allocations)
            {
                NativeMemory.Free((void*)p);
            }
            // The child's ends: the child has its own copies now (or never started).
            CloseFd(stdout[1]);
            CloseFd(stderr[1]);
            CloseFd(stdin[0]);
            if (pid <= 0)
            {
                CloseFd(stdout[0]);
                CloseFd(stderr[0]);
                CloseFd(stdin[1]);
            }
        }

        var pidFd = Native.pidfd_open(pid);
        if (pidFd < 0)
        {
            // Cannot happen for our own unreaped child short of running out of descriptors.
            var errno = Marshal.GetLastPInvokeError();
            Native.kill(pid, Native.SIGKILL);
            CloseFd(stdout[0]);
            CloseFd(stderr[0]);
            CloseFd(stdin[1]);
            throw new LaunchException("pidfd_open: " + Native.ErrorText(errno), errno);
        }
        var child = new ChildProcess(pid, pidFd, stdout[0], stderr[0], stdin[1]);
        Reaper.Watch(child);
        return child;
    }

    // posix_spawn cannot change credentials: a command with a uid runs through setpriv (one extra exec for those only).
    private static (string Program, IReadOnlyList<string> Args) WithCredentials(LaunchOptions options)
    {
        if (options.Uid is not { } uid)
        {
            return (options.Program, options.Arguments);
        }
        if (SetPriv is null)
        {
            throw new LaunchException("cannot switch to uid " + uid + ": setpriv (util-linux) is not installed", Native.ENOENT);
        }
        var gid = options.Gid ?? uid;
        List<string> args =
        [
            $"--reuid={uid}", $"--regid={gid}",
            options.Groups.Count == 0 ? "--clear-groups" : "--groups=" + string.Join(',', options.Groups),
            "--", options.Program, .. options.Arguments,
        ];
        return (SetPriv, args);
    }

    private static string StartError(LaunchOptions options, string program, int errno)
    {
        if (options.WorkingDirectory is { Length: > 0 } dir && !Directory.Exists(dir))
        {
            return $"chdir {dir}: no such file or directory";
        }
        return $"fork/exec {program}: {Native.ErrorText(errno)}";
    }

    /// <summary>
    /// Replaces the write end fds[1] by a read-write descriptor of the same pipe (Linux opens a pipe through <c>/proc/self/fd/N</c> with
    /// FIFO semantics). Best effort: without <c>/proc</c> the plain write end stays.
    /// </summary>
    private static void ReopenReadWrite(int* fds, List<nint> allocations)
    {
        var readWrite = Native.open(Utf8("/proc/self/fd/" + fds[1].ToString(System.Globalization.CultureInfo.InvariantCulture), allocations), Native.O_RDWR | Native.O_CLOEXEC, 0);
        if (readWrite >= 0)
        {
            CloseFd(fds[1]);
            fds[1] = readWrite;
        }
    }

    private static void Pipe(int* fds)
    {
        if (Native.pipe2(fds, Native.O_CLOEXEC) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new LaunchException("pipe: " + Native.ErrorText(errno), errno);
        }
    }

    private static void CloseFd(int fd)
    {
        if (fd >= 0)
        {
            Native.close(fd);
        }
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new LaunchException($"{what}: {Native.ErrorText(rc)}", rc);
        }
    }

    private static byte* Utf8(string s, List<nint> allocations)
    {
        var count = Encoding.UTF8.GetByteCount(s);
        var p = (byte*)NativeMemory.Alloc((nuint)count + 1);
        allocations.Add((nint)p);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, count));
        p[count] = 0;
        return p;
    }

    private static byte** StringArray(IReadOnlyList<string> items, List<nint> allocations)
    {
        var array = (byte**)NativeMemory.Alloc((nuint)(items.Count + 1), (nuint)sizeof(byte*));
        allocations.Add((nint)array);
        for (var i = 0; i < items.Count; i++)
        {
            array[i] = Utf8(items[i], allocations);
        }
        array[items.Count] = null;
        return array;
    }
}

/// <summary>Finds programs on the daemon's own PATH (as upstream: the request's PATH does not count).</summary>
public static class ExecutablePath
{
    public static string? Find(string program)
    {
        var path = System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}

using System.Runtime.InteropServices;

namespace Execd.Executors.Pty;

/// <summary>
/// Starts a child with posix_spawn (glibc's is vfork-like and safe from a multi-threaded managed process; never
/// fork() here): in a new session (<c>POSIX_SPAWN_SETSID</c>), with default signal dispositions and an empty
/// signal mask (the daemon ignores SIGPIPE, and ignored signals survive exec), and with fds 0–2 set up by
/// file actions. glibc runs <c>setsid()</c> before the file actions, so opening a terminal's slave by path as
/// fd 0 (without <c>O_NOCTTY</c>) makes it the new session's controlling terminal — what <c>login_tty</c> does
/// after fork.
/// <para>Kept small and separate so it can move onto a shared launcher.</para>
/// </summary>
internal static unsafe class Spawner
{
    /// <summary>What fds 0, 1 and 2 of the child are.</summary>
    internal abstract record Stdio;

    /// <summary>Open this terminal slave by path as fd 0, then duplicate it to 1 and 2.</summary>
    internal sealed record Terminal(string SlavePath) : Stdio;

    /// <summary>Duplicate these fds (the child's ends of three pipes) to 0, 1 and 2.</summary>
    internal sealed record Pipes(int Stdin, int Stdout, int Stderr) : Stdio;

    public static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, string? directory, Stdio stdio)
    {
        var strings = new List<nint>();
        var fileActions = NativeMemory.AllocZeroed(Native.FileActionsSize);
        var attributes = NativeMemory.AllocZeroed(Native.SpawnAttrSize);
        var signals = NativeMemory.AllocZeroed(Native.SigSetSize);
        try
        {
            byte* Utf8(string s)
            {
                var p = (byte*)Marshal.StringToCoTaskMemUTF8(s);
                strings.Add((nint)p);
                return p;
            }
            byte** Array(IEnumerable<string> items)
            {
                var list = items.ToList();
                var p = (byte**)Marshal.AllocCoTaskMem((list.Count + 1) * sizeof(nint));
                strings.Add((nint)p);
                p[list.Count] = null;
                for (var i = 0; i < list.Count; i++)
                {
                    p[i] = Utf8(list[i]);
                }
                return p;
            }

            Check(Native.posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
            Check(Native.posix_spawnattr_init(attributes), "posix_spawnattr_init");
            try
            {
                switch (stdio)
                {
                    case Terminal t:
                        Check(Native.posix_spawn_file_actions_addopen(fileActions, 0, Utf8(t.SlavePath), Native.O_RDWR, 0), "addopen");
                        Check(Native.posix_spawn_file_actions_adddup2(fileActions, 0, 1), "adddup2");
                        Check(Native.posix_spawn_file_actions_adddup2(fileActions, 0, 2), "adddup2");
                        break;
                    case Pipes p:
                        Check(Native.posix_spawn_file_actions_adddup2(fileActions, p.Stdin, 0), "adddup2");
                        Check(Native.posix_spawn_file_actions_adddup2(fileActions, p.Stdout, 1), "adddup2");
                        Check(Native.posix_spawn_file_actions_adddup2(fileActions, p.Stderr, 2), "adddup2");
                        break;
                }
                if (directory is not null)
                {
                    // After the terminal is opened: a relative slave path is never used, so the order is free.
                    Check(Native.posix_spawn_file_actions_addchdir_np(fileActions, Utf8(directory)), "addchdir");
                }
                Check(Native.posix_spawnattr_setflags(attributes,
                    (short)(Native.POSIX_SPAWN_SETSID | Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK)), "setflags");
                Native.sigfillset(signals);
                // sigfillset leaves out glibc's internal signals (32, 33); an ignored one survives exec, and the
                // daemon may have inherited them ignored. All 64 bits: every signal back to its default.
                *(ulong*)signals = ulong.MaxValue;
                Check(Native.posix_spawnattr_setsigdefault(attributes, signals), "setsigdefault");
                Native.sigemptyset(signals);
                Check(Native.posix_spawnattr_setsigmask(attributes, signals), "setsigmask");

                var args = Array(argv);
                var env = Array(environment.Select(kv => $"{kv.Key}={kv.Value}"));
                int pid;
                var rc = Native.posix_spawn(&pid, Utf8(path), fileActions, attributes, args, env);
                if (rc != 0)
                {
                    throw new CommandStartException($"fork/exec {path}: {Native.Describe(rc).ToLowerInvariant()}");
                }
                return pid;
            }
            finally
            {
                Native.posix_spawn_file_actions_destroy(fileActions);
                Native.posix_spawnattr_destroy(attributes);
            }
        }
        finally
        {
            foreach (var p in strings)
            {
                Marshal.FreeCoTaskMem(p);
            }
            NativeMemory.Free(fileActions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(signals);
        }
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0)
        {
            throw new CommandStartException($"{what}: {Native.Describe(rc)}");
        }
    }
}

namespace Execd.Executors.Shell;

/// <summary>
/// How a command's exit status outlives the daemon that started it (issue 14): in capture mode the shell runs the command after an
/// EXIT trap that, when the shell ends while the daemon that started it is no longer its parent (that daemon died; the command was
/// reparented), writes its exit status as decimal text into <c>&lt;capture dir&gt;/&lt;id&gt;.exit</c>. A daemon that re-adopted the command
/// (it is not its parent, so it cannot wait for it) or re-indexes it reads that file. While its daemon lives, the shell writes nothing
/// (the daemon waits for it): the check reads <c>/proc/$$/stat</c>, no disk is touched. No extra process. The trap changes neither the
/// exit status nor stdout/stderr (errors go to /dev/null) and is not inherited by the programs the command runs.
/// Only EXIT is trapped, on purpose: a shell that traps TERM survives the TERM sent to its process group, reaps its foreground child
/// killed by it and prints "Terminated" on the command's stderr — a line upstream never shows, on every interrupt and timeout.
/// The price: when bash dies of a signal it handles itself (TERM, HUP, INT, …) it still runs the EXIT trap, with the status of the last
/// command it completed, so a re-adopted or orphaned command killed that way from outside is reported with that status. A shell killed
/// by SIGKILL, or one that replaced itself (<c>exec</c>) or reset the trap, leaves no file: -1. An interrupt through the re-adopting daemon
/// is reported as the signal it sent.
/// </summary>
internal static class ExitStatusTrap
{
    /// <summary>
    /// The command text to run instead of <paramref name="command"/>: the trap, a newline, then the command unchanged.
    /// <paramref name="daemonPid"/> is the starting daemon's pid (the shell's parent while that daemon lives).
    /// In the orphaned branch only (the daemon that started it is gone; forking is fine there), when no daemon holds the capture
    /// directory's lock (a re-adopting daemon holds it shared and reads the pipes itself), a subshell takes the lock exclusively
    /// (<c>flock -n</c>; without flock nothing is drained) and copies what is left in the shell's fd 1 and fd 2 pipes — only if they
    /// are pipes, so a command that redirected its stdout to a file is never copied — into <c>&lt;id&gt;.stdout-tail</c> and
    /// <c>&lt;id&gt;.stderr-tail</c>: the pipe's inode on the first line, then the bytes (<c>dd iflag=nonblock</c> stops when the pipe is
    /// empty, and after 32 reads of at most 64 KiB, so processes the command left behind that keep writing cannot hold the shell).
    /// The exit file is written after that, so a daemon that finds it finds the tails complete.
    /// </summary>
    public static string Wrap(string command, string captureDirectory, string id, int daemonPid)
    {
        // Field 4 of /proc/$$/stat is the shell's parent now ("(bash)" and "(sh)" hold no space). Unreadable: written anyway.
        var orphaned = $"read -r _x _x _x _p _x </proc/$$/stat 2>/dev/null; [ \"$_p\" = {daemonPid.ToString(System.Globalization.CultureInfo.InvariantCulture)} ] ||";
        // $$ in the subshell is still the shell's pid: /proc/$$/fd/N are the shell's own descriptors, not the subshell's.
        static string Drain(int fd, string file) =>
            $"[ ! -p /proc/$$/fd/{fd} ] || {{ stat -L -c %i /proc/$$/fd/{fd} && dd if=/proc/$$/fd/{fd} iflag=nonblock bs=64k count=32; }} >{Quote(file)};";
        var drain = $"(umask 077; exec 7<{Quote(Path.Combine(captureDirectory, CaptureFiles.LockFileName))} && flock -n -x 7 && {{ "
            + Drain(1, CaptureFiles.Tail(captureDirectory, id, OutputStream.Stdout)) + " " + Drain(2, CaptureFiles.Tail(captureDirectory, id, OutputStream.Stderr)) + " }) 2>/dev/null;";
        var body = $"_s=$?; {orphaned} {{ {drain} printf %s \"$_s\" 2>/dev/null >{Quote(CaptureFiles.Exit(captureDirectory, id))}; }}";
        return "trap " + Quote(body) + " EXIT\n" + command;
    }

    /// <summary>One shell word for <paramref name="s"/>, whatever it contains.</summary>
    internal static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

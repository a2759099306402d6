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
    /// </summary>
    public static string Wrap(string command, string exitFile, int daemonPid)
    {
        var file = Quote(exitFile);
        // Field 4 of /proc/$$/stat is the shell's parent now ("(bash)" and "(sh)" hold no space). Unreadable: written anyway.
        var orphaned = $"read -r _x _x _x _p _x </proc/$$/stat 2>/dev/null; [ \"$_p\" = {daemonPid.ToString(System.Globalization.CultureInfo.InvariantCulture)} ] ||";
        var prefix = new System.Text.StringBuilder();
        prefix.Append("trap ").Append(Quote($"_s=$?; {orphaned} printf %s \"$_s\" 2>/dev/null >{file}")).Append(" EXIT");
        return prefix.Append('\n').Append(command).ToString();
    }

    /// <summary>One shell word for <paramref name="s"/>, whatever it contains.</summary>
    internal static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

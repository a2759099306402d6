using Execd.Processes;

namespace Execd.Executors.Shell;

/// <summary>
/// How a command's exit status outlives the daemon that started it (issue 14): in capture mode the shell runs the command after traps
/// that, when the shell ends while the daemon that started it is no longer its parent (that daemon died; the command was reparented),
/// write its end into <c>&lt;capture dir&gt;/&lt;id&gt;.exit</c> — the exit status as decimal text on EXIT, or <c>signal: NAME</c> (Go's
/// text, as a wait error) when a catchable terminating signal ends the shell, which then re-raises it and dies of it as before. A
/// daemon that re-adopted the command (it is not its parent, so it cannot wait for it) or re-indexes it reads that file. While its
/// daemon lives, the shell writes nothing (the daemon waits for it): the check reads <c>/proc/$$/stat</c>, no disk is touched. No
/// extra process. The traps change neither the exit status nor stdout/stderr (errors go to /dev/null), and are not inherited by the
/// programs the command runs (caught signals are reset to default on exec). Not covered: a command that replaces the shell
/// (<c>exec</c>) or resets the traps, and a shell killed by SIGKILL — no file, so the re-adopting daemon reports -1.
/// </summary>
internal static class ExitStatusTrap
{
    // The signals bash would otherwise handle itself once an EXIT trap is set (running the trap with a meaningless $?).
    private static readonly (string Name, int Number)[] Signals =
        [("HUP", 1), ("INT", 2), ("QUIT", 3), ("PIPE", 13), ("ALRM", 14), ("TERM", 15), ("USR1", 10), ("USR2", 12)];

    /// <summary>
    /// The command text to run instead of <paramref name="command"/>: the traps, a newline, then the command unchanged.
    /// <paramref name="daemonPid"/> is the starting daemon's pid (the shell's parent while that daemon lives).
    /// </summary>
    public static string Wrap(string command, string exitFile, int daemonPid)
    {
        var file = Quote(exitFile);
        // Field 4 of /proc/$$/stat is the shell's parent now ("(bash)" and "(sh)" hold no space). Unreadable: written anyway.
        var orphaned = $"read -r _x _x _x _p _x </proc/$$/stat 2>/dev/null; [ \"$_p\" = {daemonPid.ToString(System.Globalization.CultureInfo.InvariantCulture)} ] ||";
        var prefix = new System.Text.StringBuilder();
        prefix.Append("trap ").Append(Quote($"_s=$?; {orphaned} printf %s \"$_s\" 2>/dev/null >{file}")).Append(" EXIT");
        foreach (var (name, number) in Signals)
        {
            var text = Quote("signal: " + WaitStatus.SignalName(number));
            prefix.Append("; trap ").Append(Quote($"trap - EXIT {name}; {orphaned} printf %s {text} 2>/dev/null >{file}; kill -{name} $$")).Append(' ').Append(name);
        }
        return prefix.Append('\n').Append(command).ToString();
    }

    /// <summary>One shell word for <paramref name="s"/>, whatever it contains.</summary>
    internal static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

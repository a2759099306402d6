using Execd.Processes;

namespace Execd.Executors.Shell;

/// <summary>
/// How a command's exit status outlives the daemon that started it (issue 14): in FIFO mode the shell runs the command after traps
/// that write its end into <c>&lt;capture dir&gt;/&lt;id&gt;.exit</c> — the exit status as decimal text on EXIT, or <c>signal: NAME</c>
/// (Go's text, as a wait error) when a catchable terminating signal ends the shell, which then re-raises it and dies of it as before.
/// A daemon that re-adopts the command (it is not its parent, so it cannot wait for it) reads that file. No extra process: the shell
/// writes the file itself. The traps change neither the exit status nor stdout/stderr (the write's errors go to /dev/null), and are
/// not inherited by the programs the command runs (caught signals are reset to default on exec). Not covered: a command that replaces
/// the shell (<c>exec</c>) or resets the traps, and a shell killed by SIGKILL — no file, so the re-adopting daemon reports -1.
/// </summary>
internal static class ExitStatusTrap
{
    // The signals bash would otherwise handle itself once an EXIT trap is set (running the trap with a meaningless $?).
    private static readonly (string Name, int Number)[] Signals =
        [("HUP", 1), ("INT", 2), ("QUIT", 3), ("PIPE", 13), ("ALRM", 14), ("TERM", 15), ("USR1", 10), ("USR2", 12)];

    /// <summary>The command text to run instead of <paramref name="command"/>: the traps, a newline, then the command unchanged.</summary>
    public static string Wrap(string command, string exitFile)
    {
        var file = Quote(exitFile);
        var prefix = new System.Text.StringBuilder();
        prefix.Append("trap ").Append(Quote($"printf %s \"$?\" 2>/dev/null >{file}")).Append(" EXIT");
        foreach (var (name, number) in Signals)
        {
            var text = Quote("signal: " + WaitStatus.SignalName(number));
            prefix.Append("; trap ").Append(Quote($"trap - EXIT {name}; printf %s {text} 2>/dev/null >{file}; kill -{name} $$")).Append(' ').Append(name);
        }
        return prefix.Append('\n').Append(command).ToString();
    }

    /// <summary>One shell word for <paramref name="s"/>, whatever it contains.</summary>
    internal static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

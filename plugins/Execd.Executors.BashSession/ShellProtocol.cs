using System.Security.Cryptography;
using System.Text;

namespace Execd.Executors.BashSession;

/// <summary>
/// The lines the daemon writes to the session's bash (which reads its commands from stdin). Each run is one
/// line: the command text travels as a <c>$'…'</c> literal inside it (so it is never read as input by the
/// user's commands, which get <c>/dev/null</c> as stdin) and is <c>eval</c>-ed by the shell itself, so every
/// kind of state it changes stays. The end of a run is a marker with a fresh random token written to
/// private copies of the original stdout/stderr (fds 250/251), so a user <c>exec &gt;file</c> cannot swallow it
/// and user output cannot fake it. The helper variables exist only while the line runs; <c>set -x</c> is
/// switched off around the protocol and back on for the user's text, so no protocol trace leaks.
/// </summary>
internal static class ShellProtocol
{
    public const int StdoutFd = 250;
    public const int StderrFd = 251;

    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(MarkerScanner.TokenLength / 2));

    /// <summary>Sent once at start: keep the original pipes on private fds, expand aliases as a terminal shell would, then a ready marker.</summary>
    public static byte[] StartLine(string token) => Encoding.ASCII.GetBytes(
        $"exec {StdoutFd}>&1 {StderrFd}>&2; shopt -s expand_aliases; {Markers(token, "0")}\n");

    /// <summary>One run: optional <c>cd</c>, then the command text, then the end markers with the exit status.</summary>
    public static byte[] RunLine(string token, string command, string? workingDirectory)
    {
        var line = new StringBuilder(command.Length + 512);
        // A leading no-op: after an eval whose text ended in a backslash, bash 5.2 does not recognise a reserved word
        // (the `{` below) as the next line's first token; a command first restores that. `((1))` because it is an
        // operator, not a reserved word, and its xtrace line goes into the redirection (a simple command's would not).
        line.Append("((1)) 2>/dev/null; { __execd_o=$-; \\builtin set +x; __execd_p=; __execd_r=2; [[ $__execd_o != *x* ]] || __execd_p=$'\\\\builtin set -x\\n'; } 2>/dev/null; ");
        // Syntax first, in a subshell that parses without running (set -n) with this shell's aliases and options:
        // bash 5.2's parser is left broken (reserved words unrecognised, even heap corruption) after an eval that
        // hits a syntax error, so a text that does not parse is never eval-ed here. It fails like bash -c: exit 2.
        line.Append("if ( \\builtin eval $'\\\\builtin set -n\\n'");
        AppendQuoted(line, command);
        line.Append(" ) </dev/null; then ");
        // A one-pass loop: a stray `break` or `continue` in the command ends the command, not the protocol.
        line.Append("for __execd_x in 1; do ");
        if (workingDirectory is not null)
        {
            line.Append("\\builtin cd -- ");
            AppendQuoted(line, workingDirectory);
            line.Append(" && ");
        }
        line.Append("\\builtin eval \"$__execd_p\"");
        AppendQuoted(line, command);
        // The user's command may have switched xtrace on or off: look at $- again before silencing it.
        line.Append(" </dev/null; done; { __execd_r=$?; } 2>/dev/null; fi; { __execd_o=$-; \\builtin set +x; ");
        line.Append(Markers(token, "\"$__execd_r\""));
        line.Append(" [[ $__execd_o != *x* ]] || \\builtin set -x; \\builtin unset __execd_o __execd_p __execd_r __execd_x; } 2>/dev/null\n");
        return Encoding.UTF8.GetBytes(line.ToString());
    }

    private static string Markers(string token, string code) =>
        $"\\builtin printf '\\037EXECD:%s:%s\\n' {token} {code} >&{StdoutFd}; \\builtin printf '\\037EXECD:%s:\\n' {token} >&{StderrFd};";

    /// <summary>Appends <paramref name="text"/> as a bash ANSI-C literal: byte-exact for any UTF-8, newlines and quotes.</summary>
    internal static void AppendQuoted(StringBuilder line, string text)
    {
        line.Append("$'");
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b is < 0x20 or >= 0x7f or (byte)'\'' or (byte)'\\')
            {
                line.Append("\\x").Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                line.Append((char)b);
            }
        }
        line.Append('\'');
    }
}

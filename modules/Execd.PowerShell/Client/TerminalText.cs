using System.Text;
using System.Text.RegularExpressions;

namespace Execd.PowerShell.Client;

/// <summary>
/// Turns a terminal's output bytes into text lines for a pipeline (Enter-ExecdTerminal without a console):
/// UTF-8 decoded across frame boundaries, escape sequences (colors, cursor moves, bracketed-paste toggles)
/// removed, and a carriage return inside a line keeping what was written after it, as a screen would show it.
/// </summary>
internal sealed partial class TerminalText
{
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private readonly StringBuilder _line = new();
    private char[] _chars = new char[4096];

    /// <summary>Adds output; returns the lines it completed.</summary>
    public List<string> Add(ReadOnlySpan<byte> data)
    {
        var lines = new List<string>();
        var needed = _decoder.GetCharCount(data, flush: false);
        if (needed > _chars.Length)
        {
            _chars = new char[needed];
        }
        var count = _decoder.GetChars(data, _chars, flush: false);
        foreach (var c in _chars.AsSpan(0, count))
        {
            if (c == '\n')
            {
                lines.Add(Clean(_line.ToString()));
                _line.Clear();
            }
            else
            {
                _line.Append(c);
            }
        }
        return lines;
    }

    /// <summary>The incomplete last line (a prompt, say), or null when there is none.</summary>
    public string? Flush()
    {
        var rest = Clean(_line.ToString());
        _line.Clear();
        return rest.Length > 0 ? rest : null;
    }

    internal static string Clean(string line)
    {
        var text = Escapes().Replace(line, "").TrimEnd('\r');
        if (text.Contains('\r', StringComparison.Ordinal))
        {
            // Each carriage return goes back to column 0: later text overwrites earlier text, as on a screen.
            var screen = new StringBuilder();
            foreach (var part in text.Split('\r'))
            {
                screen.Remove(0, Math.Min(part.Length, screen.Length)).Insert(0, part);
            }
            text = screen.ToString();
        }
        return Controls().Replace(text, "");
    }

    // CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), charset designations (ESC ( B) and two-byte escapes (ESC =).
    [GeneratedRegex(@"\x1B\[[0-?]*[ -/]*[@-~]|\x1B\][^\x07\x1B]*(?:\x07|\x1B\\)?|\x1B[()*+][0-9A-Za-z]|\x1B[@-Z\\-_=>78]")]
    private static partial Regex Escapes();

    [GeneratedRegex(@"[\x00-\x08\x0B-\x1F\x7F]")]
    private static partial Regex Controls();
}

using System.Text;
using System.Text.RegularExpressions;

namespace Execd.Files;

/// <summary>
/// A glob (<c>*</c>, <c>**</c>, <c>?</c>, <c>[abc]</c>, <c>[!a-z]</c>, <c>{a,b}</c>). Like upstream, a pattern without
/// <c>/</c> is matched against the file name; one with <c>/</c> against the path below the search root.
/// </summary>
internal sealed class Glob
{
    private readonly Regex _regex;

    private Glob(Regex regex, bool matchesPath)
    {
        _regex = regex;
        MatchesPath = matchesPath;
    }

    public bool MatchesPath { get; }

    public bool IsMatch(string name, string relativePath) => _regex.IsMatch(MatchesPath ? relativePath : name);

    /// <summary>The compiled pattern, or a 400 naming what is wrong with it.</summary>
    public static Glob Parse(string pattern)
    {
        var sb = new StringBuilder("^");
        var braces = 0;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    i++;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '/')
                    {
                        i++;
                        sb.Append("(?:.*/)?");
                    }
                    else
                    {
                        sb.Append(".*");
                    }
                    break;
                case '*':
                    sb.Append("[^/]*");
                    break;
                case '?':
                    sb.Append("[^/]");
                    break;
                case '[':
                    var close = pattern.IndexOf(']', i + 2 <= pattern.Length ? i + 2 : i + 1);
                    if (close < 0)
                    {
                        throw FileApiException.BadRequest($"invalid pattern '{pattern}': unclosed '['");
                    }
                    var body = pattern[(i + 1)..close];
                    var negate = body.Length > 0 && body[0] is '!' or '^';
                    if (negate)
                    {
                        body = body[1..];
                    }
                    sb.Append(negate ? "[^/" : "[").Append(body.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("[", "\\[", StringComparison.Ordinal)).Append(']');
                    i = close;
                    break;
                case '{':
                    braces++;
                    sb.Append("(?:");
                    break;
                case '}' when braces > 0:
                    braces--;
                    sb.Append(')');
                    break;
                case ',' when braces > 0:
                    sb.Append('|');
                    break;
                case '\\' when i + 1 < pattern.Length:
                    i++;
                    sb.Append(Regex.Escape(pattern[i].ToString()));
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        if (braces != 0)
        {
            throw FileApiException.BadRequest($"invalid pattern '{pattern}': unclosed '{{'");
        }
        sb.Append('$');
        try
        {
            return new Glob(new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1)), pattern.Contains('/', StringComparison.Ordinal));
        }
        catch (ArgumentException ex)
        {
            throw FileApiException.BadRequest($"invalid pattern '{pattern}': {ex.Message}");
        }
    }
}

using System.Text;

namespace Execd.Core.Commands;

/// <summary>Expands <c>~</c>, <c>$VAR</c> and <c>${VAR}</c> the way upstream execd does for paths and env-file values.</summary>
public static class PathExpander
{
    /// <summary>
    /// Expands a path strictly: <c>~</c> or <c>~/</c> at the start becomes <c>$HOME</c>; an undefined variable
    /// is an error naming every undefined variable (sorted).
    /// </summary>
    public static string ExpandPath(string path, IReadOnlyDictionary<string, string> env)
    {
        if (path.Length == 0)
        {
            return path;
        }
        if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal))
        {
            env.TryGetValue("HOME", out var home);
            path = (home ?? System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile)) + path[1..];
        }
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        var result = Expand(path, name => env.TryGetValue(name, out var v) ? v : Missing(name, missing));
        if (missing.Count > 0)
        {
            throw new ArgumentException($"path references undefined environment variables: {string.Join(",", missing)}");
        }
        return result;
    }

    /// <summary>Expands like Go's <c>os.ExpandEnv</c>: undefined variables become empty.</summary>
    public static string ExpandLenient(string value, IReadOnlyDictionary<string, string> env) =>
        Expand(value, name => env.TryGetValue(name, out var v) ? v : "");

    private static string Missing(string name, SortedSet<string> missing)
    {
        missing.Add(name);
        return "";
    }

    private static string Expand(string s, Func<string, string> lookup)
    {
        if (!s.Contains('$'))
        {
            return s;
        }
        var sb = new StringBuilder(s.Length + 16);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '$' || i + 1 >= s.Length)
            {
                sb.Append(s[i]);
                continue;
            }
            if (s[i + 1] == '{')
            {
                var close = s.IndexOf('}', i + 2);
                if (close > i + 2)
                {
                    sb.Append(lookup(s[(i + 2)..close]));
                    i = close;
                    continue;
                }
                sb.Append(s[i]);
                continue;
            }
            var j = i + 1;
            while (j < s.Length && (char.IsAsciiLetterOrDigit(s[j]) || s[j] == '_'))
            {
                j++;
            }
            if (j == i + 1)
            {
                sb.Append(s[i]);
                continue;
            }
            sb.Append(lookup(s[(i + 1)..j]));
            i = j - 1;
        }
        return sb.ToString();
    }
}

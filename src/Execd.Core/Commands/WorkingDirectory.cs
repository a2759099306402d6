namespace Execd.Core.Commands;

/// <summary>
/// The one rule for a request's working directory (commands, session create, session run): expanded with the
/// environment the child runs with, absolute after expansion (a relative one would depend on the daemon's own
/// directory), no NUL, and an existing directory (a session's create may create it, as upstream's MkdirAll).
/// </summary>
public static class WorkingDirectory
{
    /// <summary>The absolute path, or an error text saying why <paramref name="cwd"/> cannot be used. Null/empty: none asked for.</summary>
    public static (string? Directory, string? Error) Resolve(string? cwd, IReadOnlyDictionary<string, string> env, bool create = false)
    {
        if (string.IsNullOrEmpty(cwd))
        {
            return (null, null);
        }
        if (cwd.Contains('\0', StringComparison.Ordinal))
        {
            return (null, "working directory contains a NUL character");
        }
        string expanded;
        try
        {
            expanded = PathExpander.ExpandPath(cwd, env);
        }
        catch (ArgumentException ex)
        {
            return (null, $"cannot resolve working directory \"{cwd}\": {ex.Message}");
        }
        if (!expanded.StartsWith('/'))
        {
            return (null, $"working directory must be an absolute path (or start with ~): \"{cwd}\"");
        }
        var path = Path.GetFullPath(expanded);
        if (File.Exists(path))
        {
            return (null, $"working directory path is not a directory: {cwd}");
        }
        if (!Directory.Exists(path))
        {
            if (!create)
            {
                return (null, $"working directory does not exist: {cwd}: stat {path}: no such file or directory");
            }
            try
            {
                Directory.CreateDirectory(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return (null, $"mkdir {path}: {ex.Message}");
            }
        }
        return (path, null);
    }
}

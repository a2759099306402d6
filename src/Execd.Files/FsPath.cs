namespace Execd.Files;

/// <summary>Checks a client's path: absolute (or <c>~</c>-relative), never empty, no NUL, no <c>..</c> component.</summary>
internal static class FsPath
{
    /// <summary>The absolute, normalised form of <paramref name="path"/>, or a 400 naming <paramref name="what"/>.</summary>
    public static string Resolve(string? path, string what = "path", string code = FileApiException.InvalidRequestBody)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw FileApiException.BadRequest($"{what} must not be empty", code);
        }
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw FileApiException.BadRequest($"{what} contains a NUL character", code);
        }
        // Upstream expands "~" with the daemon's HOME; a relative path would depend on the daemon's cwd, so it is refused.
        if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal))
        {
            var home = Environment.GetEnvironmentVariable("HOME");
            if (string.IsNullOrEmpty(home))
            {
                throw FileApiException.BadRequest($"{what} '{path}' starts with ~ but HOME is not set", code);
            }
            path = home + path[1..];
        }
        if (!path.StartsWith('/'))
        {
            throw FileApiException.BadRequest($"{what} must be absolute: '{path}'", code);
        }
        // ".." is refused rather than resolved as text: "X/victim/missing/.." is not X when a component is a link or
        // missing, and the kernel would not resolve it to X/victim either way. One rule for every files route.
        if (path.Split('/').Contains(".."))
        {
            throw FileApiException.BadRequest($"{what} must not contain '..' components: '{path}'", code);
        }
        var full = Path.GetFullPath(path);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }

    /// <summary>The query's <c>path</c> values (repeatable), each resolved.</summary>
    public static IReadOnlyList<(string Given, string Full)> ResolveAll(IEnumerable<string?> paths) =>
        [.. paths.Select(p => (p ?? "", Resolve(p)))];

    /// <summary>A single required query parameter, or 400 MISSING_QUERY as upstream.</summary>
    public static string Required(HttpRequest request, string name)
    {
        var values = request.Query[name];
        if (values.Count == 0)
        {
            throw FileApiException.BadRequest($"missing query parameter '{name}'", FileApiException.MissingQuery);
        }
        return values[0] ?? "";
    }
}

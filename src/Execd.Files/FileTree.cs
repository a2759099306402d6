namespace Execd.Files;

/// <summary>
/// Walks a directory tree in lexical (ordinal) order per directory, each directory followed by its
/// children before its next sibling, never through a symbolic link.
/// </summary>
internal static class FileTree
{
    /// <summary>Entries below <paramref name="dir"/> down to <paramref name="maxDepth"/> levels (1 = children only).</summary>
    public static IEnumerable<(FsEntry Entry, string Relative)> Walk(string dir, int maxDepth)
    {
        if (maxDepth < 1)
        {
            yield break;
        }
        string[] names;
        try
        {
            names = [.. Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Removed or unreadable while walking: what remains is still listed.
            yield break;
        }
        foreach (var name in names)
        {
            var path = dir == "/" ? "/" + name : dir + "/" + name;
            if (FsEntry.TryLStat(path) is not { } entry)
            {
                continue;
            }
            yield return (entry, name);
            if (entry.IsDirectory)
            {
                foreach (var (child, relative) in Walk(path, maxDepth - 1))
                {
                    yield return (child, name + "/" + relative);
                }
            }
        }
    }
}

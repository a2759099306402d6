namespace Execd.Core.Commands;

/// <summary>A user from <c>/etc/passwd</c>.</summary>
public sealed record UserEntry(string Name, uint Uid, uint Gid, string Home);

/// <summary>
/// Reads <c>/etc/passwd</c> and <c>/etc/group</c> directly (as upstream's pure-Go lookup does), so it works
/// in any image without NSS.
/// </summary>
public sealed class UserDatabase(string passwdPath = "/etc/passwd", string groupPath = "/etc/group")
{
    /// <summary>The group an unknown uid runs with when no gid is given (upstream used 0, root).</summary>
    public const uint NoGroup = 65534;

    public UserEntry? FindUser(uint uid)
    {
        foreach (var line in ReadLines(passwdPath))
        {
            var f = line.Split(':');
            if (f.Length >= 6 && uint.TryParse(f[2], out var u) && u == uid && uint.TryParse(f[3], out var g))
            {
                return new UserEntry(f[0], u, g, f[5]);
            }
        }
        return null;
    }

    /// <summary>The supplementary groups of <paramref name="user"/>: its primary group and every group listing it.</summary>
    public IReadOnlyList<uint> GroupsOf(UserEntry user)
    {
        var groups = new SortedSet<uint> { user.Gid };
        foreach (var line in ReadLines(groupPath))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && uint.TryParse(f[2], out var gid) && f[3].Split(',').Contains(user.Name, StringComparer.Ordinal))
            {
                groups.Add(gid);
            }
        }
        return [.. groups];
    }

    /// <summary>The user called <paramref name="name"/>, or null.</summary>
    public UserEntry? FindUser(string name)
    {
        foreach (var line in ReadLines(passwdPath))
        {
            var f = line.Split(':');
            if (f.Length >= 6 && f[0] == name && uint.TryParse(f[2], out var u) && uint.TryParse(f[3], out var g))
            {
                return new UserEntry(f[0], u, g, f[5]);
            }
        }
        return null;
    }

    /// <summary>The name of group <paramref name="gid"/>, or null.</summary>
    public string? FindGroupName(uint gid) =>
        Groups().Where(g => g.Gid == gid).Select(g => g.Name).FirstOrDefault();

    /// <summary>The id of the group called <paramref name="name"/>, or null.</summary>
    public uint? FindGroupId(string name) =>
        Groups().Where(g => g.Name == name).Select(g => (uint?)g.Gid).FirstOrDefault();

    private IEnumerable<(string Name, uint Gid)> Groups()
    {
        foreach (var line in ReadLines(groupPath))
        {
            var f = line.Split(':');
            if (f.Length >= 3 && uint.TryParse(f[2], out var gid))
            {
                yield return (f[0], gid);
            }
        }
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path).Where(l => l.Length > 0 && l[0] != '#');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}

using System.Globalization;
using Execd.Core.Commands;

namespace Execd.Files;

/// <summary>What <c>lstat</c> says about a path (a link is described, never followed).</summary>
internal readonly record struct FsEntry(string Path, int Type, int Permissions, uint Uid, uint Gid, long Size,
    DateTimeOffset Modified, DateTimeOffset Created)
{
    public bool IsDirectory => Type == NativeFs.TypeDirectory;
    public bool IsLink => Type == NativeFs.TypeLink;
    public bool IsRegular => Type == NativeFs.TypeRegular;

    public string TypeName => Type switch
    {
        NativeFs.TypeRegular => "file",
        NativeFs.TypeDirectory => "directory",
        NativeFs.TypeLink => "symlink",
        _ => "other",
    };

    /// <summary>Null when nothing is there (or a parent is not a directory); throws for other errors.</summary>
    public static FsEntry? TryLStat(string path)
    {
        var errno = NativeFs.LStat(path, out var st);
        if (errno is NativeFs.ENOENT or NativeFs.ENOTDIR)
        {
            return null;
        }
        if (errno == NativeFs.ENAMETOOLONG || errno == NativeFs.ELOOP)
        {
            throw FileApiException.BadRequest($"invalid path {path}: errno {errno}");
        }
        if (errno != 0)
        {
            throw new FileApiException(errno == NativeFs.EACCES ? 403 : 500, FileApiException.RuntimeError, $"error accessing file {path}: errno {errno}");
        }
        var modified = Time(st.ModifySec, st.ModifyNsec);
        // statx reports a birth time where the file system keeps one; otherwise upstream's choice (change time).
        var created = (st.Mask & 0x0800u) != 0 && st.BirthSec != 0 ? Time(st.BirthSec, st.BirthNsec) : Time(st.ChangeSec, st.ChangeNsec);
        return new FsEntry(path, st.Mode & NativeFs.TypeMask, st.Mode & 0xFFF, st.Uid, st.Gid, (long)st.Size, modified, created);
    }

    /// <summary>The entry, or 404 FILE_NOT_FOUND.</summary>
    public static FsEntry LStat(string path) => TryLStat(path) ?? throw FileApiException.NotFound(path);

    private static DateTimeOffset Time(long sec, uint nsec) =>
        DateTimeOffset.FromUnixTimeSeconds(sec).AddTicks(nsec / 100);
}

/// <summary>Builds wire <see cref="FileInfoDto"/>s, remembering uid and gid names for one request.</summary>
internal sealed class FileInfoReader(UserDatabase users)
{
    private readonly Dictionary<uint, string> _owners = [];
    private readonly Dictionary<uint, string> _groups = [];

    public FileInfoDto Describe(FsEntry e) => new(
        e.Path,
        e.TypeName,
        e.Size,
        Format(e.Modified),
        Format(e.Created),
        Owner(e.Uid),
        Group(e.Gid),
        FileModes.ToWire(e.Permissions));

    private string Owner(uint uid)
    {
        if (!_owners.TryGetValue(uid, out var name))
        {
            name = users.FindUser(uid)?.Name ?? uid.ToString(CultureInfo.InvariantCulture);
            _owners[uid] = name;
        }
        return name;
    }

    private string Group(uint gid)
    {
        if (!_groups.TryGetValue(gid, out var name))
        {
            name = users.FindGroupName(gid) ?? gid.ToString(CultureInfo.InvariantCulture);
            _groups[gid] = name;
        }
        return name;
    }

    /// <summary>RFC 3339 in UTC with the sub-second digits that are there (Go's time.Time JSON shape).</summary>
    public static string Format(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);
}

using System.Globalization;
using Execd.Core.Commands;

namespace Execd.Files;

/// <summary>Upstream writes modes as octal digits in a decimal number: 755 means 0o755.</summary>
internal static class FileModes
{
    public static int ToWire(int bits) => int.Parse(Convert.ToString(bits, 8), CultureInfo.InvariantCulture);

    /// <summary>The mode bits for a wire mode, null for 0 or absent (upstream: leave the mode alone).</summary>
    public static int? FromWire(int? wire, string path, string code)
    {
        if (wire is null or 0)
        {
            return null;
        }
        var text = wire.Value.ToString(CultureInfo.InvariantCulture);
        if (wire < 0 || wire > 7777 || text.Any(c => c is '8' or '9'))
        {
            throw FileApiException.BadRequest($"invalid mode {wire} for {path}: expected octal digits such as 644 or 755", code);
        }
        return Convert.ToInt32(text, 8);
    }
}

/// <summary>A checked mode/owner/group change; -1 keeps the owner or group.</summary>
internal sealed record PermissionChange(int? Mode, int Uid, int Gid)
{
    public bool ChangesOwner => Uid >= 0 || Gid >= 0;

    /// <summary>
    /// Resolves names against /etc/passwd and /etc/group; an unknown name is a 400, not a silent no-op. A numeric id
    /// must be 0…2147483647 (as a command's uid/gid): 4294967295 would mean "unchanged" to chown, larger ones wrap.
    /// </summary>
    public static PermissionChange Resolve(PermissionDto dto, string path, UserDatabase users, string code = FileApiException.InvalidRequestBody)
    {
        var mode = FileModes.FromWire(dto.Mode, path, code);
        var uid = -1;
        if (!string.IsNullOrEmpty(dto.Owner))
        {
            uid = users.FindUser(dto.Owner) is { } user ? (int)user.Uid
                : int.TryParse(dto.Owner, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw FileApiException.BadRequest($"unknown owner '{dto.Owner}' for {path}", code);
        }
        var gid = -1;
        if (!string.IsNullOrEmpty(dto.Group))
        {
            gid = users.FindGroupId(dto.Group) is { } g ? (int)g
                : int.TryParse(dto.Group, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw FileApiException.BadRequest($"unknown group '{dto.Group}' for {path}", code);
        }
        return new PermissionChange(mode, uid, gid);
    }

    /// <summary>Owner first: chown clears set-id bits, so the mode asked for is applied last.</summary>
    public void Apply(string path)
    {
        if (ChangesOwner)
        {
            NativeFs.Chown(path, Uid, Gid);
        }
        if (Mode is { } bits)
        {
            File.SetUnixFileMode(path, (UnixFileMode)bits);
        }
    }
}

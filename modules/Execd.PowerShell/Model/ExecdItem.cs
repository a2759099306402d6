using System.Globalization;
using Execd.PowerShell.Client;

namespace Execd.PowerShell;

/// <summary>A file, directory or symbolic link on the daemon's machine (<c>Get-ExecdItem</c>, <c>Get-ExecdChildItem</c>).</summary>
public sealed class ExecdItem
{
    /// <summary>The absolute path on the daemon's machine; binds to the file cmdlets' -Path by property name.</summary>
    public required string Path { get; init; }

    public string Name => System.IO.Path.GetFileName(Path.TrimEnd('/')) is { Length: > 0 } name ? name : Path;

    /// <summary><c>file</c>, <c>directory</c> or <c>symlink</c> (links are not followed).</summary>
    public string? Type { get; init; }

    public long Size { get; init; }

    /// <summary>The permission bits as octal digits, as the API and chmod write them: <c>644</c>, <c>755</c>.</summary>
    public string? Mode { get; init; }

    public string? Owner { get; init; }
    public string? Group { get; init; }
    public DateTimeOffset? ModifiedAt { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }

    public bool IsDirectory => Type == "directory";

    public override string ToString() => Path;

    internal static ExecdItem From(FileInfoDto dto) => new()
    {
        Path = dto.Path, Type = dto.Type, Size = dto.Size, Mode = dto.Mode.ToString("000", CultureInfo.InvariantCulture),
        Owner = dto.Owner, Group = dto.Group, ModifiedAt = dto.ModifiedAt, CreatedAt = dto.CreatedAt,
    };
}

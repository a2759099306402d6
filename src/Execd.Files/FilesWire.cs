using System.Text.Json;
using System.Text.Json.Serialization;

namespace Execd.Files;

/// <summary>Upstream's <c>FileInfo</c>: <c>mode</c> is the octal permission digits read as decimal (0755 → 755).</summary>
public sealed record FileInfoDto(
    string Path,
    string Type,
    long Size,
    string ModifiedAt,
    string CreatedAt,
    string Owner,
    string Group,
    int Mode);

/// <summary><c>Permission</c> (directories, permissions) and <c>FileMetadata</c> (upload; adds <c>path</c>).</summary>
public sealed class PermissionDto
{
    public string? Path { get; set; }
    public string? Owner { get; set; }
    public string? Group { get; set; }
    public int? Mode { get; set; }
}

public sealed class RenameItemDto
{
    public string? Src { get; set; }
    public string? Dest { get; set; }
}

public sealed class ReplaceItemDto
{
    public string? Old { get; set; }
    public string? New { get; set; }
}

/// <summary>camelCase on the wire, unlike every other field (upstream's <c>replacedCount</c>).</summary>
public sealed record ReplaceResultDto([property: JsonPropertyName("replacedCount")] int ReplacedCount);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    PropertyNameCaseInsensitive = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(Dictionary<string, FileInfoDto>))]
[JsonSerializable(typeof(List<FileInfoDto>))]
[JsonSerializable(typeof(Dictionary<string, PermissionDto>))]
[JsonSerializable(typeof(PermissionDto))]
[JsonSerializable(typeof(List<RenameItemDto>))]
[JsonSerializable(typeof(Dictionary<string, ReplaceItemDto>))]
[JsonSerializable(typeof(Dictionary<string, ReplaceResultDto>))]
internal sealed partial class FilesJson : JsonSerializerContext;

using System.Buffers;
using System.Text.Json;
using Execd.Core.Commands;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Execd.Files;

/// <summary>
/// <c>POST /files/upload</c>: reads the multipart body section by section straight from the socket (never
/// <c>Request.Form</c>, which spills large bodies to the temp directory). Each <c>metadata</c> part names a
/// target; the next <c>file</c> part is streamed into a stage beside that target. Only when the whole body
/// has been read are the stages renamed into place, so a broken request changes no target.
/// </summary>
internal sealed class MultipartUpload(UserDatabase users)
{
    private const int BufferSize = 256 * 1024;
    private const int MetadataLimit = 64 * 1024;

    private sealed record Pending(string Target, PermissionChange Permissions);

    /// <summary>Returns the targets written, in order.</summary>
    public async Task<IReadOnlyList<string>> RunAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }
        var boundary = Boundary(http.Request.ContentType);
        var reader = new MultipartReader(boundary, http.Request.Body, BufferSize)
        {
            HeadersLengthLimit = 16 * 1024,
            BodyLengthLimit = null,
        };
        var pending = new Queue<Pending>();
        var staged = new List<(StagedFile Stage, PermissionChange Permissions)>();
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (await NextSectionAsync(reader, ct) is { } section)
            {
                var name = HeaderUtilities.RemoveQuotes(section.GetContentDispositionHeader()?.Name ?? default).Value;
                if (string.Equals(name, "metadata", StringComparison.OrdinalIgnoreCase))
                {
                    pending.Enqueue(await ReadMetadataAsync(section, ct));
                }
                else if (string.Equals(name, "file", StringComparison.OrdinalIgnoreCase))
                {
                    if (!pending.TryDequeue(out var target))
                    {
                        throw FileApiException.BadRequest("a file part came without a metadata part before it", FileApiException.InvalidFile);
                    }
                    var stage = CreateStage(target.Target);
                    staged.Add((stage, target.Permissions));
                    await CopyAsync(section.Body, stage, buffer, ct);
                }
                else
                {
                    // Other form fields are ignored, as upstream does.
                    await CopyAsync(section.Body, null, buffer, ct);
                }
            }
            if (pending.TryPeek(out var orphan))
            {
                throw FileApiException.BadRequest($"metadata for {orphan.Target} has no file part", FileApiException.InvalidFileContent);
            }
            if (staged.Count == 0)
            {
                throw FileApiException.BadRequest("metadata file is missing", FileApiException.InvalidFileMetadata);
            }
            foreach (var (stage, permissions) in staged)
            {
                // The existing file's mode survives a re-upload without a mode (upstream truncates in place).
                var keep = permissions.Mode is null && FsEntry.TryLStat(stage.Target) is { IsRegular: true } old
                    ? permissions with { Mode = old.Permissions }
                    : permissions;
                await stage.CommitAsync(keep);
            }
            return [.. staged.Select(s => s.Stage.Target)];
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            foreach (var (stage, _) in staged)
            {
                await stage.DisposeAsync();
            }
        }
    }

    private static string Boundary(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) ||
            !media.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            throw FileApiException.BadRequest($"expected a multipart/form-data body, got '{contentType}'", FileApiException.InvalidFile);
        }
        var boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value;
        if (string.IsNullOrEmpty(boundary) || boundary.Length > 200)
        {
            throw FileApiException.BadRequest("multipart/form-data without a valid boundary", FileApiException.InvalidFile);
        }
        return boundary;
    }

    private static async Task<MultipartSection?> NextSectionAsync(MultipartReader reader, CancellationToken ct)
    {
        try
        {
            return await reader.ReadNextSectionAsync(ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            throw FileApiException.BadRequest($"malformed multipart body: {ex.Message}", FileApiException.InvalidFile);
        }
    }

    private async Task<Pending> ReadMetadataAsync(MultipartSection section, CancellationToken ct)
    {
        using var json = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await ReadBodyAsync(section.Body, buffer, ct)) > 0)
        {
            if (json.Length + read > MetadataLimit)
            {
                throw FileApiException.BadRequest($"metadata part is larger than {MetadataLimit} bytes", FileApiException.InvalidFileMetadata);
            }
            json.Write(buffer, 0, read);
        }
        PermissionDto? meta;
        try
        {
            meta = JsonSerializer.Deserialize(json.GetBuffer().AsSpan(0, (int)json.Length), FilesJson.Default.PermissionDto);
        }
        catch (JsonException ex)
        {
            throw FileApiException.BadRequest($"invalid metadata format. {ex.Message}", FileApiException.InvalidFileMetadata);
        }
        if (meta is null || string.IsNullOrEmpty(meta.Path))
        {
            throw FileApiException.BadRequest("metadata path is empty", FileApiException.InvalidFileMetadata);
        }
        var target = FsPath.Resolve(meta.Path, "metadata path", FileApiException.InvalidFileMetadata);
        if (target == "/" || FsEntry.TryLStat(target) is { IsDirectory: true })
        {
            throw FileApiException.BadRequest($"metadata path {meta.Path} is a directory", FileApiException.InvalidFileMetadata);
        }
        return new Pending(target, PermissionChange.Resolve(meta, meta.Path, users, FileApiException.InvalidFileMetadata));
    }

    private static StagedFile CreateStage(string target)
    {
        var dir = Path.GetDirectoryName(target)!;
        try
        {
            Directory.CreateDirectory(dir);
            return StagedFile.Create(target);
        }
        catch (IOException ex)
        {
            throw FileApiException.BadRequest($"cannot create {target}: {ex.Message}", FileApiException.InvalidFileMetadata);
        }
    }

    /// <summary>Streams a section into <paramref name="stage"/> (or nowhere) through one bounded buffer.</summary>
    private static async Task CopyAsync(Stream body, StagedFile? stage, byte[] buffer, CancellationToken ct)
    {
        int read;
        while ((read = await ReadBodyAsync(body, buffer, ct)) > 0)
        {
            if (stage is null)
            {
                continue;
            }
            try
            {
                await stage.Stream.WriteAsync(buffer.AsMemory(0, read), ct);
            }
            catch (IOException ex)
            {
                throw new FileApiException(500, FileApiException.RuntimeError, $"error writing {stage.Target}: {ex.Message}");
            }
        }
    }

    /// <summary>A body that ends early or breaks the multipart framing is the client's fault: 400.</summary>
    private static async Task<int> ReadBodyAsync(Stream body, byte[] buffer, CancellationToken ct)
    {
        try
        {
            return await body.ReadAsync(buffer, ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            throw FileApiException.BadRequest($"malformed multipart body: {ex.Message}", FileApiException.InvalidFile);
        }
    }
}

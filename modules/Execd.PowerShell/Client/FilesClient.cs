using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Execd.PowerShell.Client;

/// <summary>Upstream's <c>FileInfo</c>; <c>mode</c> is the octal digits read as a decimal number (0755 → 755).</summary>
internal sealed record FileInfoDto(string Path, string? Type, long Size, DateTimeOffset? ModifiedAt, DateTimeOffset? CreatedAt,
    string? Owner, string? Group, int Mode);

/// <summary>Upstream's <c>Permission</c> (and the upload's <c>FileMetadata</c>, which adds <c>path</c>).</summary>
internal sealed record PermissionDto(string? Path, int? Mode, string? Owner, string? Group);

internal sealed record MoveDto(string Src, string Dest);

/// <summary>The <c>/files*</c> and <c>/directories*</c> calls the file cmdlets make.</summary>
internal static class FilesClient
{
    // Big enough to keep a fast link busy, small enough that a transfer holds little memory.
    private const int CopyBufferSize = 256 * 1024;

    private static string Q(string path) => Uri.EscapeDataString(path);

    public static async Task<ExecdItem> InfoAsync(this ExecdClient client, string path, CancellationToken cancel)
    {
        var info = await client.GetJsonAsync<Dictionary<string, FileInfoDto>>("files/info?path=" + Q(path), cancel).ConfigureAwait(false);
        return ExecdItem.From(info.Values.Single());
    }

    public static async Task<List<ExecdItem>> ListAsync(this ExecdClient client, string path, int depth, CancellationToken cancel)
    {
        var entries = await client.GetJsonAsync<List<FileInfoDto>>($"directories/list?path={Q(path)}&depth={depth}", cancel).ConfigureAwait(false);
        return [.. entries.Select(ExecdItem.From)];
    }

    public static Task DeleteFileAsync(this ExecdClient client, string path, CancellationToken cancel) =>
        client.SendAsync(HttpMethod.Delete, "files?path=" + Q(path), cancel);

    public static Task DeleteDirectoryAsync(this ExecdClient client, string path, CancellationToken cancel) =>
        client.SendAsync(HttpMethod.Delete, "directories?path=" + Q(path), cancel);

    public static Task MoveAsync(this ExecdClient client, string source, string destination, CancellationToken cancel) =>
        client.SendBodyAsync(HttpMethod.Post, "files/mv", new[] { new MoveDto(source, destination) }, cancel);

    public static Task SetPermissionAsync(this ExecdClient client, string path, int? mode, string? owner, string? group, CancellationToken cancel) =>
        client.SendBodyAsync(HttpMethod.Post, "files/permissions", new Dictionary<string, PermissionDto> { [path] = new(null, mode, owner, group) }, cancel);

    public static Task MakeDirectoryAsync(this ExecdClient client, string path, int? mode, string? owner, string? group, CancellationToken cancel) =>
        client.SendBodyAsync(HttpMethod.Post, "directories", new Dictionary<string, PermissionDto> { [path] = new(null, mode, owner, group) }, cancel);

    private static async Task SendBodyAsync(this ExecdClient client, HttpMethod method, string path, object body, CancellationToken cancel)
    {
        using var response = await client.SendAsync(client.Request(method, path, body), cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// One multipart upload: the metadata part, then the file streamed from disk. Every part has a known length,
    /// so the request goes out with a Content-Length and the file is read as it is sent, never held whole.
    /// </summary>
    public static async Task UploadAsync(this ExecdClient client, string localPath, string remotePath, int? mode, string? owner, string? group, TransferProgress progress, CancellationToken cancel)
    {
        var opened = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
        progress.Total = opened.Length;
        await using var file = new CountingStream(opened, progress);
        using var form = new MultipartFormDataContent();
        var metadata = new StringContent(JsonSerializer.Serialize(new PermissionDto(remotePath, mode, owner, group), ExecdClient.Json), Encoding.UTF8, "application/json");
        form.Add(metadata, "metadata");
        var content = new StreamContent(file, CopyBufferSize);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(content, "file", Path.GetFileName(localPath));
        var request = client.Request(HttpMethod.Post, "files/upload");
        request.Content = form;
        using var response = await client.SendAsync(request, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Downloads <paramref name="remotePath"/> (or the bytes <paramref name="range"/> names, an HTTP
    /// <c>Range</c> value) into a sibling of <paramref name="localPath"/>, then renames it into place: an
    /// interrupted download never leaves a half file under the name asked for. Returns the bytes written.
    /// </summary>
    public static async Task<long> DownloadAsync(this ExecdClient client, string remotePath, string localPath, string? range, TransferProgress progress, CancellationToken cancel)
    {
        var request = client.Request(HttpMethod.Get, "files/download?path=" + Q(remotePath));
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }
        using var response = await client.SendAsync(request, cancel).ConfigureAwait(false);
        if (range is not null && response.StatusCode != HttpStatusCode.PartialContent)
        {
            throw new ExecdException("ExecdRangeIgnored", System.Management.Automation.ErrorCategory.InvalidResult,
                $"execd at {client.Uri} answered a range request for {remotePath} with {(int)response.StatusCode}, not 206 Partial Content.");
        }
        progress.Total = response.Content.Headers.ContentLength;
        var directory = Path.GetDirectoryName(localPath)!;
        var stage = Path.Combine(directory, $".{Path.GetFileName(localPath)}.download-{Guid.NewGuid():N}");
        try
        {
            long written;
            await using (var source = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false))
            await using (var target = new CountingStream(new FileStream(stage, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, FileOptions.Asynchronous), progress))
            {
                await source.CopyToAsync(target, CopyBufferSize, cancel).ConfigureAwait(false);
                written = target.Length;
            }
            if (response.Content.Headers.ContentLength is { } expected && expected != written)
            {
                throw new IOException($"the download of {remotePath} ended after {written} of {expected} bytes");
            }
            File.Move(stage, localPath, overwrite: true);
            return written;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or UnauthorizedAccessException)
        {
            throw new ExecdException("ExecdDownloadFailed", System.Management.Automation.ErrorCategory.ReadError,
                $"Downloading {remotePath} from execd at {client.Uri} to {localPath} failed: {ex.Message}", inner: ex);
        }
        finally
        {
            if (File.Exists(stage))
            {
                File.Delete(stage);
            }
        }
    }
}

using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Serialization.Metadata;
using Execd.Core.Commands;
using Execd.Core.Http;
using Microsoft.Net.Http.Headers;

namespace Execd.Files;

/// <summary>
/// <c>/files*</c> and <c>/directories*</c>: metadata, delete, permissions, move, search, replace, streamed
/// upload and download (with ranges), list, create and delete directories. Paths must be absolute (or
/// start with <c>~</c>); every check of a request runs before any of its changes.
/// </summary>
public static class FilesApi
{
    private const int CopyBufferSize = 256 * 1024;

    public static IEndpointRouteBuilder MapFiles(this IEndpointRouteBuilder app)
    {
        app.MapGet("/files/info", (HttpContext http, UserDatabase users, ILoggerFactory logs) => Guard(http, logs, () => Info(http, users)));
        app.MapDelete("/files", (HttpContext http, ILoggerFactory logs) => Guard(http, logs, () => DeleteFiles(http)));
        app.MapPost("/files/permissions", (HttpContext http, UserDatabase users, ILoggerFactory logs) => Guard(http, logs, () => PermissionsAsync(http, users)));
        app.MapPost("/files/mv", (HttpContext http, ILoggerFactory logs) => Guard(http, logs, () => MoveAsync(http)));
        app.MapGet("/files/search", (HttpContext http, UserDatabase users, ILoggerFactory logs) => Guard(http, logs, () => Search(http, users)));
        app.MapPost("/files/replace", (HttpContext http, ILoggerFactory logs) => Guard(http, logs, () => ReplaceAsync(http)));
        app.MapPost("/files/upload", (HttpContext http, UserDatabase users, ILoggerFactory logs) => Guard(http, logs, () => UploadAsync(http, users, logs)));
        app.MapGet("/files/download", (HttpContext http, ILoggerFactory logs) => Guard(http, logs, () => DownloadAsync(http)));
        app.MapGet("/directories/list", (HttpContext http, UserDatabase users, ILoggerFactory logs) => Guard(http, logs, () => List(http, users)));
        app.MapPost("/directories", (HttpContext http, UserDatabase users, ILoggerFactory logs) => Guard(http, logs, () => MakeDirectoriesAsync(http, users)));
        app.MapDelete("/directories", (HttpContext http, ILoggerFactory logs) => Guard(http, logs, () => DeleteDirectories(http)));
        return app;
    }

    private static Task<IResult> Guard(HttpContext http, ILoggerFactory logs, Func<IResult> body) => Guard(http, logs, () => Task.FromResult(body()));

    private static async Task<IResult> Guard(HttpContext http, ILoggerFactory logs, Func<Task<IResult>> body)
    {
        var logger = logs.CreateLogger(typeof(FilesApi).FullName!);
        try
        {
            return await body();
        }
        catch (FileApiException ex)
        {
            logger.Log(ex.Status >= 500 ? LogLevel.Error : LogLevel.Information, "Rejected {Method} {Path}: {Status} {Code} {Message}",
                http.Request.Method, http.Request.Path, ex.Status, ex.Code, ex.Message);
            return ApiError.Of(ex.Status, ex.Code, ex.Message);
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's verdict on the request itself (e.g. a body over the size limit: 413): the client's fault.
            logger.LogInformation("Rejected {Method} {Path}: {Status} {Message}", http.Request.Method, http.Request.Path, ex.StatusCode, ex.Message);
            return ApiError.Of(ex.StatusCode, FileApiException.InvalidRequestBody, ex.Message);
        }
        catch (RegexMatchTimeoutException ex)
        {
            logger.LogInformation("Rejected {Method} {Path}: pattern too slow to match", http.Request.Method, http.Request.Path);
            return ApiError.Of(400, FileApiException.InvalidRequestBody,
                $"search pattern is too expensive: matching one name took longer than {ex.MatchTimeout.TotalSeconds:0.###} s; use a simpler pattern");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && !http.RequestAborted.IsCancellationRequested)
        {
            logger.LogError("{Method} {Path} failed: {Error}", http.Request.Method, http.Request.Path, ex.Message);
            return ApiError.Of(500, FileApiException.RuntimeError, ex.Message);
        }
    }

    private static IResult Json<T>(T value, JsonTypeInfo<T> type) =>
        TypedResults.Json(value, type, contentType: "application/json; charset=utf-8");

    private static async Task<T> ReadBodyAsync<T>(HttpContext http, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted)
                ?? throw FileApiException.BadRequest("error parsing request, MAYBE invalid body format. body is null");
        }
        catch (JsonException ex)
        {
            var reason = ex.Message.Contains("does not contain any JSON tokens", StringComparison.Ordinal) ? "EOF" : ex.Message;
            throw FileApiException.BadRequest($"error parsing request, MAYBE invalid body format. {reason}");
        }
    }

    private static IResult Info(HttpContext http, UserDatabase users)
    {
        var reader = new FileInfoReader(users);
        var result = new Dictionary<string, FileInfoDto>(StringComparer.Ordinal);
        foreach (var (given, full) in FsPath.ResolveAll(http.Request.Query["path"]))
        {
            result[given] = reader.Describe(FsEntry.LStat(full));
        }
        return Json(result, FilesJson.Default.DictionaryStringFileInfoDto);
    }

    private static IResult DeleteFiles(HttpContext http)
    {
        var targets = new List<string>();
        foreach (var (given, full) in FsPath.ResolveAll(http.Request.Query["path"]))
        {
            // Missing is fine (upstream: rm -f); a link is removed itself, never what it points to.
            if (FsEntry.TryLStat(full) is { } entry)
            {
                if (entry.IsDirectory)
                {
                    throw FileApiException.BadRequest($"path is a directory: {given} (use DELETE /directories)");
                }
                targets.Add(full);
            }
        }
        targets.ForEach(File.Delete);
        return EmptyBody.Ok();
    }

    private static async Task<IResult> PermissionsAsync(HttpContext http, UserDatabase users)
    {
        var request = await ReadBodyAsync(http, FilesJson.Default.DictionaryStringPermissionDto);
        var changes = new List<(string Path, PermissionChange Change)>();
        foreach (var (given, dto) in request)
        {
            var full = FsPath.Resolve(given);
            NotALink(FsEntry.LStat(full), given);
            changes.Add((full, PermissionChange.Resolve(dto ?? new PermissionDto(), given, users)));
        }
        foreach (var (path, change) in changes)
        {
            change.Apply(path);
        }
        return EmptyBody.Ok();
    }

    private static async Task<IResult> MoveAsync(HttpContext http)
    {
        var request = await ReadBodyAsync(http, FilesJson.Default.ListRenameItemDto);
        var moves = new List<(string Src, string Dest, bool Directory, bool Link)>();
        foreach (var item in request)
        {
            if (item is null)
            {
                throw FileApiException.BadRequest("error parsing request, MAYBE invalid body format. null item");
            }
            var src = FsPath.Resolve(item.Src, "src");
            var dest = FsPath.Resolve(item.Dest, "dest");
            var entry = FsEntry.TryLStat(src) ?? throw FileApiException.NotFound(item.Src!);
            if (src != dest && FsEntry.TryLStat(dest) is not null)
            {
                throw FileApiException.BadRequest($"destination path already exists: {item.Dest}");
            }
            if (entry.IsDirectory && (dest + "/").StartsWith(src + "/", StringComparison.Ordinal) && src != dest)
            {
                throw FileApiException.BadRequest($"cannot move directory {item.Src} into itself ({item.Dest})");
            }
            moves.Add((src, dest, entry.IsDirectory, entry.IsLink));
        }
        foreach (var (src, dest, isDirectory, link) in moves.Where(m => m.Src != m.Dest))
        {
            // Upstream creates the destination's parent directories.
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            if (link)
            {
                // The link itself moves (File.Move would look through a link to a directory and fail).
                NativeFs.Rename(src, dest);
            }
            else if (isDirectory)
            {
                Directory.Move(src, dest);
            }
            else
            {
                File.Move(src, dest, overwrite: false);
            }
        }
        return EmptyBody.Ok();
    }

    private static IResult Search(HttpContext http, UserDatabase users)
    {
        var root = RealDirectory(FsPath.Resolve(FsPath.Required(http.Request, "path")));
        var pattern = http.Request.Query["pattern"].FirstOrDefault();
        var glob = Glob.Parse(string.IsNullOrEmpty(pattern) ? "**" : pattern);
        var reader = new FileInfoReader(users);
        var found = FileTree.Walk(root, int.MaxValue)
            .Where(e => !e.Entry.IsDirectory && glob.IsMatch(Path.GetFileName(e.Relative), e.Relative))
            .Select(e => reader.Describe(e.Entry))
            .ToList();
        return Json(found, FilesJson.Default.ListFileInfoDto);
    }

    /// <summary>The directory a search starts from: a link to a directory is followed for the root only.</summary>
    private static string RealDirectory(string path)
    {
        var entry = FsEntry.LStat(path);
        if (entry.IsLink && new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName is { } target && Directory.Exists(target))
        {
            return target;
        }
        if (!entry.IsDirectory)
        {
            throw FileApiException.BadRequest($"path is not a directory: {path}");
        }
        return path;
    }

    private static async Task<IResult> ReplaceAsync(HttpContext http)
    {
        var verbose = string.Equals(http.Request.Query["verbose"].FirstOrDefault(), "true", StringComparison.OrdinalIgnoreCase);
        var request = await ReadBodyAsync(http, FilesJson.Default.DictionaryStringReplaceItemDto);
        var jobs = new List<(string Given, FsEntry File, string Old, string New)>();
        foreach (var (given, item) in request)
        {
            var full = FsPath.Resolve(given);
            if (item is null || string.IsNullOrEmpty(item.Old))
            {
                throw FileApiException.BadRequest($"old content must not be empty ({given})");
            }
            NotALink(FsEntry.LStat(full), given);
            jobs.Add((given, RegularFile(full, given), item.Old, item.New ?? ""));
        }
        var results = new Dictionary<string, ReplaceResultDto>(StringComparer.Ordinal);
        foreach (var (given, file, old, replacement) in jobs)
        {
            results[given] = new ReplaceResultDto(await ContentReplacer.ReplaceAsync(file, old, replacement, http.RequestAborted));
        }
        return verbose ? Json(results, FilesJson.Default.DictionaryStringReplaceResultDto) : EmptyBody.Ok();
    }

    /// <summary>
    /// The one symlink rule for writes: a change never goes through a link. Upload and mv replace or move the link
    /// itself; replace and permissions refuse it (400) instead of changing what it points to.
    /// </summary>
    private static void NotALink(FsEntry entry, string given)
    {
        if (entry.IsLink)
        {
            throw FileApiException.BadRequest($"path is a symbolic link: {given} (changes never go through a link; use its target's path)");
        }
    }

    /// <summary>The regular file at <paramref name="full"/>, through links; 404 when missing, 400 for anything else.</summary>
    private static FsEntry RegularFile(string full, string given)
    {
        var entry = FsEntry.LStat(full);
        if (entry.IsLink)
        {
            var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            entry = (target is null ? null : FsEntry.TryLStat(target)) ?? throw FileApiException.NotFound(given);
        }
        if (entry.IsDirectory)
        {
            throw FileApiException.BadRequest($"path is a directory, not a file: {given}");
        }
        if (!entry.IsRegular)
        {
            throw FileApiException.BadRequest($"path is not a regular file: {given}");
        }
        return entry;
    }

    private static async Task<IResult> UploadAsync(HttpContext http, UserDatabase users, ILoggerFactory logs)
    {
        var written = await new MultipartUpload(users).RunAsync(http, http.RequestAborted);
        logs.CreateLogger(typeof(FilesApi).FullName!).LogInformation("Uploaded {Count} file(s): {Paths}", written.Count, string.Join(", ", written));
        return EmptyBody.Ok();
    }

    private static async Task<IResult> DownloadAsync(HttpContext http)
    {
        var given = FsPath.Required(http.Request, "path");
        var file = RegularFile(FsPath.Resolve(given), given);
        var query = http.Request.Query;
        if (query.ContainsKey("offset") && query.ContainsKey("limit"))
        {
            // The SDKs' readFile offset/limit: upstream serves lines offset..offset+limit-1 (1-based) as text.
            var offset = PositiveInt(query["offset"], "offset must be a positive integer (1-based)");
            var limit = PositiveInt(query["limit"], "limit must be a positive integer");
            return new StreamResult(file.Path, async (response, source, ct) =>
            {
                response.ContentType = "text/plain; charset=utf-8";
                await LineRange.CopyAsync(source, response.Body, offset, limit, ct);
            });
        }
        var size = file.Size;
        var range = (ByteRange?)new ByteRange(0, size);
        var rangeHeader = http.Request.Headers.Range.ToString();
        if (rangeHeader.Length > 0)
        {
            range = ByteRange.Parse(rangeHeader, size);
            if (range is null)
            {
                http.Response.Headers.ContentRange = $"bytes */{size}";
                return ApiError.Of(416, FileApiException.RangeNotSatisfiable, $"range '{rangeHeader}' is not satisfiable for {given} ({size} bytes)");
            }
        }
        var (start, length) = (range!.Value.Start, range.Value.Length);
        var partial = rangeHeader.Length > 0;
        return new StreamResult(file.Path, async (response, source, ct) =>
        {
            response.StatusCode = partial ? StatusCodes.Status206PartialContent : StatusCodes.Status200OK;
            response.ContentType = "application/octet-stream";
            var disposition = new ContentDispositionHeaderValue("attachment");
            disposition.SetHttpFileName(Path.GetFileName(file.Path));
            response.Headers.ContentDisposition = disposition.ToString();
            response.Headers.AcceptRanges = "bytes";
            response.Headers.LastModified = file.Modified.ToString("R", CultureInfo.InvariantCulture);
            if (partial)
            {
                response.Headers.ContentRange = $"bytes {start}-{start + length - 1}/{size}";
            }
            response.ContentLength = length;
            source.Seek(start, SeekOrigin.Begin);
            await CopyRangeAsync(source, response.Body, length, ct);
        });
    }

    private static int PositiveInt(Microsoft.Extensions.Primitives.StringValues value, string message) =>
        int.TryParse(value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
            ? n
            : throw FileApiException.BadRequest(message);

    private static async Task CopyRangeAsync(Stream source, Stream destination, long length, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            while (length > 0)
            {
                var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length)), ct);
                if (read == 0)
                {
                    // The file shrank after Content-Length was sent: end the response short rather than pad it.
                    throw new IOException("file shrank while it was being sent");
                }
                await destination.WriteAsync(buffer.AsMemory(0, read), ct);
                length -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Opens the file before any header is written (so a vanished file is still a clean 404) and streams it.</summary>
    private sealed class StreamResult(string path, Func<HttpResponse, FileStream, CancellationToken, Task> write) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            FileStream source;
            try
            {
                source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 0, FileOptions.Asynchronous | FileOptions.SequentialScan);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                await ApiError.Of(404, FileApiException.FileNotFound, $"file not found: {path}").ExecuteAsync(httpContext);
                return;
            }
            await using (source)
            {
                try
                {
                    await write(httpContext.Response, source, httpContext.RequestAborted);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException)
                {
                    // Headers are gone: the only honest signal left is a broken connection.
                    httpContext.Abort();
                }
            }
        }
    }

    private static IResult List(HttpContext http, UserDatabase users)
    {
        var given = FsPath.Required(http.Request, "path");
        var depthText = http.Request.Query["depth"].FirstOrDefault();
        var depth = 1;
        if (!string.IsNullOrEmpty(depthText) && (!int.TryParse(depthText, NumberStyles.None, CultureInfo.InvariantCulture, out depth) || depth < 0))
        {
            throw FileApiException.BadRequest($"invalid query parameter 'depth': {depthText}");
        }
        var full = FsPath.Resolve(given);
        var entry = FsEntry.LStat(full);
        if (entry.IsLink)
        {
            throw FileApiException.BadRequest($"path is a symbolic link, refusing to traverse: {full}");
        }
        if (!entry.IsDirectory)
        {
            throw FileApiException.BadRequest($"path is not a directory: {full}");
        }
        var reader = new FileInfoReader(users);
        var entries = FileTree.Walk(full, depth).Select(e => reader.Describe(e.Entry)).ToList();
        return Json(entries, FilesJson.Default.ListFileInfoDto);
    }

    private static async Task<IResult> MakeDirectoriesAsync(HttpContext http, UserDatabase users)
    {
        var request = await ReadBodyAsync(http, FilesJson.Default.DictionaryStringPermissionDto);
        var jobs = new List<(string Path, PermissionChange Change)>();
        foreach (var (given, dto) in request)
        {
            var full = FsPath.Resolve(given);
            if (FsEntry.TryLStat(full) is { IsDirectory: false, IsLink: false })
            {
                throw FileApiException.BadRequest($"path exists and is not a directory: {given}");
            }
            jobs.Add((full, PermissionChange.Resolve(dto ?? new PermissionDto(), given, users)));
        }
        foreach (var (path, change) in jobs)
        {
            var existed = Directory.Exists(path);
            try
            {
                Directory.CreateDirectory(path);
            }
            catch (IOException ex)
            {
                throw FileApiException.BadRequest($"cannot create directory {path}: {ex.Message}");
            }
            // As upstream: an existing directory (say /tmp) keeps its mode and owner.
            if (!existed)
            {
                change.Apply(path);
            }
        }
        return EmptyBody.Ok();
    }

    private static IResult DeleteDirectories(HttpContext http)
    {
        var targets = new List<(string Path, bool Link)>();
        foreach (var (given, full) in FsPath.ResolveAll(http.Request.Query["path"]))
        {
            if (full == "/")
            {
                throw FileApiException.BadRequest("refusing to delete /");
            }
            switch (FsEntry.TryLStat(full))
            {
                case null:
                    break;
                case { IsLink: true }:
                    targets.Add((full, true));
                    break;
                case { IsDirectory: true }:
                    targets.Add((full, false));
                    break;
                default:
                    throw FileApiException.BadRequest($"path is not a directory: {given} (use DELETE /files)");
            }
        }
        foreach (var (path, link) in targets)
        {
            // A link is removed itself; .NET's recursive delete unlinks links inside the tree without following them.
            if (link)
            {
                File.Delete(path);
            }
            else
            {
                Directory.Delete(path, recursive: true);
            }
        }
        return EmptyBody.Ok();
    }
}

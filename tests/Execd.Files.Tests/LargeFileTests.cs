using System.Net.Http.Headers;
using System.Security.Cryptography;
using static Execd.Files.Tests.FilesClient;

namespace Execd.Files.Tests;

/// <summary>
/// 100 MiB through the real daemon executable whose TMPDIR is a test-owned directory: left empty (nothing
/// spills to a temp directory) or deleted before the daemon starts (everything still works).
/// </summary>
public sealed class LargeFileTests : IDisposable
{
    private const long Size = 100L * 1024 * 1024;
    private readonly TestDirectory _dir = TestPaths.NewDirectory("large");

    public void Dispose() => _dir.Dispose();


    [Fact]
    public async Task UploadDownload100MiB_TmpdirLeftEmpty()
    {
        var tmp = Directory.CreateDirectory(_dir.Combine("tmp")).FullName;

        var (before, after, created) = await RoundTripAsync(tmp);

        // The runtime puts its debugger pipes and diagnostics socket there at start-up; the transfers add
        // nothing, not even a file that is deleted again (ASP.NET's form buffering would create one).
        Assert.Empty(created);
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task UploadDownload100MiB_TmpdirDeleted_Works()
    {
        var tmp = Directory.CreateDirectory(_dir.Combine("tmp-gone")).FullName;
        Directory.Delete(tmp);

        var (_, after, _) = await RoundTripAsync(tmp);

        Assert.Empty(after);
        Assert.False(Directory.Exists(tmp));
    }

    private static string[] Entries(string dir) =>
        Directory.Exists(dir) ? [.. Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)] : [];

    /// <summary>Uploads, downloads and range-reads 100 MiB; returns TMPDIR's entries before and after the transfers.</summary>
    private async Task<(string[] Before, string[] After, string[] Created)> RoundTripAsync(string tmpdir)
    {
        await using var daemon = await ChildDaemon.StartAsync(new Dictionary<string, string> { ["TMPDIR"] = tmpdir, ["ASPNETCORE_TEMP"] = tmpdir }, _dir.Combine("storage"));
        var before = Entries(tmpdir);
        var created = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var watcher = Directory.Exists(tmpdir) ? new FileSystemWatcher(tmpdir) { IncludeSubdirectories = true } : null;
        if (watcher is not null)
        {
            watcher.Created += (_, e) => created.Enqueue(e.FullPath);
            watcher.EnableRaisingEvents = true;
        }
        var target = _dir.Combine("data", "big file.bin");
        byte[] expected;
        using (var pattern = new PatternStream(Size))
        {
            expected = await SHA256.HashDataAsync(pattern);
        }

        var file = new StreamContent(new PatternStream(Size), 256 * 1024);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using (var up = await daemon.Client.PostAsync("/files/upload", Upload((Meta(target, mode: 644), file))))
        {
            Assert.Equal(200, (int)up.StatusCode);
        }
        Assert.Equal(Size, new FileInfo(target).Length);
        Assert.Empty(Stages(_dir.Path));

        using var down = await daemon.Client.GetAsync("/files/download?" + Query(target), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)down.StatusCode);
        Assert.Equal(Size, down.Content.Headers.ContentLength);
        await using var body = await down.Content.ReadAsStreamAsync();
        Assert.Equal(expected, await SHA256.HashDataAsync(body));

        using var tail = new HttpRequestMessage(HttpMethod.Get, "/files/download?" + Query(target));
        tail.Headers.Range = new RangeHeaderValue(null, 1024);
        using var partial = await daemon.Client.SendAsync(tail);
        Assert.Equal(206, (int)partial.StatusCode);
        var bytes = await partial.Content.ReadAsByteArrayAsync();
        await using var onDisk = File.OpenRead(target);
        onDisk.Seek(-1024, SeekOrigin.End);
        var last = new byte[1024];
        await onDisk.ReadExactlyAsync(last);
        Assert.Equal(last, bytes);
        return (before, Entries(tmpdir), [.. created]);
    }
}

using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using static Execd.Files.Tests.FilesClient;

namespace Execd.Files.Tests;

/// <summary>Multipart upload and ranged download on a real daemon, including the bodies the JS SDK sends.</summary>
public sealed class UploadDownloadTests : IAsyncLifetime
{
    private Daemon _daemon = null!;
    private readonly TestDirectory _dir = TestPaths.NewDirectory("updown");

    private HttpClient Client => _daemon.Client;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private static (int, string) Pick((int Status, string Code, string Message) e) => (e.Status, e.Code);

    [Fact]
    public async Task Upload_TwoFiles_CreatesParentsAndAppliesModeOwnerGroup()
    {
        var first = _dir.Combine("new", "dirs", "first.sh");
        var second = _dir.Combine("second.txt");

        using var response = await Client.PostAsync("/files/upload", Upload(
            (Meta(first, mode: 750, owner: "nobody", group: "nogroup"), Bytes("#!/bin/sh\necho hi\n")),
            (Meta(second), Bytes("plain"))));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("#!/bin/sh\necho hi\n", File.ReadAllText(first));
        Assert.Equal("plain", File.ReadAllText(second));
        var info = (await JsonOf(await Client.GetAsync("/files/info?" + Query(first))))[first]!;
        Assert.Equal((750, "nobody", "nogroup"), ((int)info["mode"]!, (string)info["owner"]!, (string)info["group"]!));
        Assert.Empty(Stages(_dir.Path));
    }

    [Fact]
    public async Task Upload_ExistingFileWithoutMode_ReplacedAndKeepsMode()
    {
        var target = _dir.Combine("t.txt");
        File.WriteAllText(target, "old content that is longer");
        File.SetUnixFileMode(target, (UnixFileMode)Convert.ToInt32("600", 8));

        using var response = await Client.PostAsync("/files/upload", Upload((Meta(target), Bytes("new"))));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("new", File.ReadAllText(target));
        Assert.Equal((UnixFileMode)Convert.ToInt32("600", 8), File.GetUnixFileMode(target));
    }

    [Fact]
    public async Task Upload_ExactJsSdkStreamingBody_Accepted()
    {
        // Byte for byte what FilesystemAdapter.uploadFile builds for a streamed upload (multipartUploadBody).
        var target = _dir.Combine("sdk dir", "naïve ✓.bin");
        const string b = "opensandbox_1a2b3c_1700000000000";
        var meta = JsonSerializerMeta(target);
        var body = $"--{b}\r\nContent-Disposition: form-data; name=\"metadata\"; filename=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{meta}\r\n"
            + $"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"naïve ✓.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            + "line1\r\n--not-the-boundary\r\nline2"
            + $"\r\n--{b}--\r\n";
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", $"multipart/form-data; boundary={b}");

        using var response = await Client.PostAsync("/files/upload", content);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("line1\r\n--not-the-boundary\r\nline2", File.ReadAllText(target));
    }

    private static string JsonSerializerMeta(string path) => new JsonObject { ["path"] = path }.ToJsonString();

    [Fact]
    public async Task Upload_MetadataWithoutFilePart_Is400AndNothingWritten()
    {
        var first = _dir.Combine("first");
        var second = _dir.Combine("second");

        var (status, code, message) = await ErrorOf(await Client.PostAsync("/files/upload", Upload((Meta(first), Bytes("1")), (Meta(second), null))));

        Assert.Equal((400, "INVALID_FILE_CONTENT"), (status, code));
        Assert.Contains("second", message);
        Assert.False(File.Exists(first));
        Assert.False(File.Exists(second));
        Assert.Empty(Stages(_dir.Path));
    }

    [Fact]
    public async Task Upload_FilePartWithoutMetadata_Is400()
    {
        var form = new MultipartFormDataContent { { Bytes("data"), "file", "file" } };
        Assert.Equal((400, "INVALID_FILE"), Pick(await ErrorOf(await Client.PostAsync("/files/upload", form))));
    }

    [Fact]
    public async Task Upload_NoParts_Is400()
    {
        var form = new MultipartFormDataContent { { new StringContent("x"), "other" } };
        Assert.Equal((400, "INVALID_FILE_METADATA"), Pick(await ErrorOf(await Client.PostAsync("/files/upload", form))));
    }

    [Theory]
    [InlineData("application/json", "{}")]
    [InlineData("multipart/form-data", "--x\r\n\r\n")]
    [InlineData("multipart/form-data; boundary=B", "garbage without any boundary line")]
    [InlineData("multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"path\":\"/x\"}")]
    public async Task Upload_MalformedMultipart_Is400InvalidFile(string contentType, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        Assert.Equal((400, "INVALID_FILE"), Pick(await ErrorOf(await Client.PostAsync("/files/upload", content))));
    }

    [Theory]
    [InlineData("{\"path\":\"relative.txt\"}", "absolute")]
    [InlineData("{\"path\":\"\"}", "empty")]
    [InlineData("{\"mode\":644}", "empty")]
    [InlineData("{not json", "invalid metadata")]
    [InlineData("{\"path\":\"%T\",\"owner\":\"no-such-user-x\"}", "owner")]
    [InlineData("{\"path\":\"%T\",\"group\":\"no-such-group-x\"}", "group")]
    [InlineData("{\"path\":\"%T\",\"mode\":888}", "mode")]
    [InlineData("{\"path\":\"%D\"}", "directory")]
    public async Task Upload_BadMetadata_Is400InvalidFileMetadataAndNothingWritten(string metadata, string word)
    {
        var earlier = _dir.Combine("earlier.txt");
        var target = _dir.Combine("t.txt");
        metadata = metadata.Replace("%T", target, StringComparison.Ordinal).Replace("%D", _dir.Path, StringComparison.Ordinal);

        var (status, code, message) = await ErrorOf(await Client.PostAsync("/files/upload", Upload((Meta(earlier), Bytes("e")), (metadata, Bytes("x")))));

        Assert.Equal((400, "INVALID_FILE_METADATA"), (status, code));
        Assert.Contains(word, message);
        Assert.False(File.Exists(earlier));
        Assert.False(File.Exists(target));
        Assert.Empty(Stages(_dir.Path));
    }

    [Fact]
    public async Task Upload_ParentIsAFile_Is400()
    {
        var file = _dir.Combine("plain");
        File.WriteAllText(file, "p");
        Assert.Equal((400, "INVALID_FILE_METADATA"), Pick(await ErrorOf(await Client.PostAsync("/files/upload", Upload((Meta(file + "/child"), Bytes("x")))))));
    }

    [Fact]
    public async Task Upload_ConnectionDroppedMidFile_TargetUntouchedAndNoStageLeft()
    {
        var target = _dir.Combine("victim.bin");
        File.WriteAllText(target, "original");
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(_daemon.BaseAddress.Host, _daemon.BaseAddress.Port);
        var stream = tcp.GetStream();
        var head = $"--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{Meta(target)}\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n";
        var request = $"POST /files/upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: {head.Length + 50_000_000}\r\n\r\n{head}";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
        await stream.WriteAsync(new byte[1 << 20]);
        await stream.FlushAsync();
        // Only drop the connection once the daemon is writing the stage, so the test covers the cleanup.
        Assert.True(await Eventually(() => Stages(_dir.Path).Length == 1), "no stage file appeared");

        tcp.Client.Close();

        Assert.True(await Eventually(() => Stages(_dir.Path).Length == 0), "stage file left behind");
        Assert.Equal("original", File.ReadAllText(target));
        Assert.Equal([target], Directory.GetFileSystemEntries(_dir.Path));
    }

    private static async Task<bool> Eventually(Func<bool> condition)
    {
        for (var i = 0; i < 200; i++)
        {
            if (condition())
            {
                return true;
            }
            await Task.Delay(50);
        }
        return condition();
    }

    private string Sample(string name = "data.bin", int size = 100)
    {
        var path = _dir.Combine(name);
        File.WriteAllBytes(path, [.. Enumerable.Range(0, size).Select(i => (byte)i)]);
        return path;
    }

    [Fact]
    public async Task Download_WholeFile_ContentLengthAndDisposition()
    {
        var path = Sample("résumé 2024.bin");

        using var response = await Client.GetAsync("/files/download?" + Query(path));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(100, response.Content.Headers.ContentLength);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("résumé 2024.bin", response.Content.Headers.ContentDisposition?.FileNameStar);
        Assert.Equal(File.ReadAllBytes(path), await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("bytes=0-9", 0, 10)]
    [InlineData("bytes=-5", 95, 5)]
    [InlineData("bytes=10-19", 10, 10)]
    [InlineData("bytes=95-", 95, 5)]
    [InlineData("bytes=90-500", 90, 10)]
    [InlineData("bytes=-500", 0, 100)]
    [InlineData("bytes=3-3, 10-20", 3, 1)]
    public async Task Download_Range_Is206WithExactBytes(string range, int start, int length)
    {
        var path = Sample();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/files/download?" + Query(path));
        request.Headers.TryAddWithoutValidation("Range", range);

        using var response = await Client.SendAsync(request);

        Assert.Equal(206, (int)response.StatusCode);
        Assert.Equal(length, response.Content.Headers.ContentLength);
        Assert.Equal($"bytes {start}-{start + length - 1}/100", response.Content.Headers.ContentRange?.ToString());
        Assert.Equal(File.ReadAllBytes(path).AsSpan(start, length).ToArray(), await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("bytes=100-")]
    [InlineData("bytes=200-300")]
    [InlineData("bytes=-0")]
    [InlineData("bytes=5-2")]
    [InlineData("items=0-1")]
    [InlineData("bytes=x-y")]
    public async Task Download_UnsatisfiableRange_Is416Json(string range)
    {
        var path = Sample();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/files/download?" + Query(path));
        request.Headers.TryAddWithoutValidation("Range", range);

        using var response = await Client.SendAsync(request);

        Assert.Equal((416, "RANGE_NOT_SATISFIABLE"), Pick(await ErrorOf(response)));
        Assert.Equal("bytes */100", response.Content.Headers.ContentRange?.ToString());
    }

    [Fact]
    public async Task Download_OffsetLimit_ServesLinesAsTheSdkReadFileAsks()
    {
        var path = _dir.Combine("lines.txt");
        File.WriteAllText(path, "one\ntwo\nthree\nfour");

        using var middle = await Client.GetAsync($"/files/download?{Query(path)}&offset=2&limit=2");
        using var tail = await Client.GetAsync($"/files/download?{Query(path)}&offset=4&limit=10");

        Assert.Equal("two\nthree\n", await middle.Content.ReadAsStringAsync());
        Assert.Equal("four\n", await tail.Content.ReadAsStringAsync());
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync($"/files/download?{Query(path)}&offset=0&limit=1"))));
    }

    [Fact]
    public async Task Download_BadInput_Is4xx()
    {
        var dir = Directory.CreateDirectory(_dir.Combine("d")).FullName;
        Assert.Equal((400, "MISSING_QUERY"), Pick(await ErrorOf(await Client.GetAsync("/files/download"))));
        Assert.Equal((404, "FILE_NOT_FOUND"), Pick(await ErrorOf(await Client.GetAsync("/files/download?" + Query(_dir.Combine("missing"))))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/files/download?" + Query(dir)))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/files/download?path=relative.txt"))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/files/download?path="))));
    }

    [Fact]
    public async Task UploadThenDownload_UnicodeAndSpacesInNames_RoundTrip()
    {
        var target = _dir.Combine("空 白", "ça va ✓.txt");
        using (var up = await Client.PostAsync("/files/upload", Upload((Meta(target), Bytes("ünïcödé")))))
        {
            Assert.Equal(200, (int)up.StatusCode);
        }

        using var down = await Client.GetAsync("/files/download?" + Query(target));

        Assert.Equal("ünïcödé", await down.Content.ReadAsStringAsync());
        Assert.Equal("ça va ✓.txt", down.Content.Headers.ContentDisposition?.FileNameStar);
    }
}

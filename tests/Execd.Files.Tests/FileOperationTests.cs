using System.Text.Json.Nodes;
using static Execd.Files.Tests.FilesClient;

namespace Execd.Files.Tests;

/// <summary>Info, delete, permissions, move, search, replace and the directory endpoints on real files.</summary>
public sealed class FileOperationTests : IAsyncLifetime
{
    private Daemon _daemon = null!;
    private readonly TestDirectory _dir = TestPaths.NewDirectory("files");

    private HttpClient Client => _daemon.Client;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private string Write(string relative, string content)
    {
        var path = _dir.Combine(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public async Task Info_ManyPaths_ReturnsMapKeyedByPathWithUpstreamFields()
    {
        var file = Write("a.txt", "hello");
        File.SetUnixFileMode(file, (UnixFileMode)Convert.ToInt32("640", 8));
        var sub = Directory.CreateDirectory(_dir.Combine("sub")).FullName;

        var json = (await JsonOf(await Client.GetAsync("/files/info?" + Query(file, sub)))).AsObject();

        Assert.Equal(2, json.Count);
        var info = json[file]!;
        Assert.Equal(file, (string)info["path"]!);
        Assert.Equal("file", (string)info["type"]!);
        Assert.Equal(5, (long)info["size"]!);
        Assert.Equal(640, (int)info["mode"]!);
        Assert.Equal("root", (string)info["owner"]!);
        Assert.Equal("root", (string)info["group"]!);
        var modified = DateTimeOffset.Parse((string)info["modified_at"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange((DateTimeOffset.UtcNow - modified).TotalMinutes, -1, 5);
        Assert.NotNull((string?)info["created_at"]);
        Assert.Equal("directory", (string)json[sub]!["type"]!);
    }

    [Fact]
    public async Task Info_Symlink_ReportedAsSymlinkNotFollowed()
    {
        var target = Write("target.txt", "0123456789");
        var link = _dir.Combine("link");
        File.CreateSymbolicLink(link, target);

        var info = (await JsonOf(await Client.GetAsync("/files/info?" + Query(link))))[link]!;

        Assert.Equal("symlink", (string)info["type"]!);
        Assert.Equal(target.Length, (long)info["size"]!);
    }

    [Fact]
    public async Task Info_MissingFile_Is404FileNotFound()
    {
        var (status, code, _) = await ErrorOf(await Client.GetAsync("/files/info?" + Query(Write("here", "x"), _dir.Combine("missing"))));
        Assert.Equal((404, "FILE_NOT_FOUND"), (status, code));
    }

    [Theory]
    [InlineData("relative/path")]
    [InlineData("")]
    public async Task Info_RelativeOrEmptyPath_Is400(string path)
    {
        var (status, code, message) = await ErrorOf(await Client.GetAsync("/files/info?" + Query(path)));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
        Assert.Contains("path", message);
    }

    [Fact]
    public async Task Info_UnicodeAndSpaces_RoundTrip()
    {
        var file = Write("dossier été/naïve 文件 ✓.txt", "ü");
        var json = (await JsonOf(await Client.GetAsync("/files/info?" + Query(file)))).AsObject();
        Assert.Equal(file, (string)json[file]!["path"]!);
        Assert.Equal(2, (long)json[file]!["size"]!);
    }

    [Fact]
    public async Task DeleteFiles_RemovesFilesAndLinksButNotLinkTargets()
    {
        var a = Write("a", "1");
        var target = Write("keep/target", "2");
        var link = _dir.Combine("link");
        File.CreateSymbolicLink(link, target);

        using var response = await Client.DeleteAsync("/files?" + Query(a, link, _dir.Combine("already-gone")));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.False(File.Exists(a));
        Assert.False(Path.Exists(link));
        Assert.Equal("2", File.ReadAllText(target));
    }

    [Fact]
    public async Task DeleteFiles_Directory_Is400AndNothingDeleted()
    {
        var a = Write("a", "1");
        var sub = Directory.CreateDirectory(_dir.Combine("sub")).FullName;

        var (status, code, message) = await ErrorOf(await Client.DeleteAsync("/files?" + Query(a, sub)));

        Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
        Assert.Contains("directory", message);
        Assert.True(File.Exists(a));
        Assert.True(Directory.Exists(sub));
    }

    [Fact]
    public async Task Permissions_ModeOwnerGroupByName_Applied()
    {
        var file = Write("p.sh", "#!/bin/sh");
        var body = new JsonObject { [file] = new JsonObject { ["mode"] = 755, ["owner"] = "nobody", ["group"] = "nogroup" } };

        using var response = await Client.PostAsync("/files/permissions", JsonBody(body.ToJsonString()));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(file));
        var info = (await JsonOf(await Client.GetAsync("/files/info?" + Query(file))))[file]!;
        Assert.Equal(("nobody", "nogroup", 755), ((string)info["owner"]!, (string)info["group"]!, (int)info["mode"]!));
    }

    [Theory]
    [InlineData("{\"mode\":644,\"owner\":\"no-such-user-x\"}", "owner")]
    [InlineData("{\"mode\":644,\"group\":\"no-such-group-x\"}", "group")]
    [InlineData("{\"mode\":999}", "mode")]
    public async Task Permissions_BadEntry_Is400AndNoFileChanged(string permission, string word)
    {
        var first = Write("first", "1");
        var second = Write("second", "2");
        File.SetUnixFileMode(first, (UnixFileMode)Convert.ToInt32("600", 8));
        var body = $"{{\"{first}\":{{\"mode\":777}},\"{second}\":{permission}}}";

        var (status, code, message) = await ErrorOf(await Client.PostAsync("/files/permissions", JsonBody(body)));

        Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
        Assert.Contains(word, message);
        Assert.Equal((UnixFileMode)Convert.ToInt32("600", 8), File.GetUnixFileMode(first));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"/x\":{\"mode\":\"755\"}}")]
    public async Task Permissions_MalformedBody_Is400InvalidRequestBody(string body)
    {
        var (status, code, message) = await ErrorOf(await Client.PostAsync("/files/permissions", JsonBody(body)));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
        Assert.StartsWith("error parsing request", message);
    }

    [Fact]
    public async Task Permissions_MissingFile_Is404()
    {
        var body = new JsonObject { [_dir.Combine("missing")] = new JsonObject { ["mode"] = 644 } };
        var (status, code, _) = await ErrorOf(await Client.PostAsync("/files/permissions", JsonBody(body.ToJsonString())));
        Assert.Equal((404, "FILE_NOT_FOUND"), (status, code));
    }

    [Fact]
    public async Task Move_RenamesAndMovesIntoNewDirectory()
    {
        var a = Write("a.txt", "A");
        var b = Write("b.txt", "B");
        var renamed = _dir.Combine("renamed.txt");
        var moved = _dir.Combine("new dir", "deeper", "b.txt");
        var body = new JsonArray(new JsonObject { ["src"] = a, ["dest"] = renamed }, new JsonObject { ["src"] = b, ["dest"] = moved });

        using var response = await Client.PostAsync("/files/mv", JsonBody(body.ToJsonString()));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("A", File.ReadAllText(renamed));
        Assert.Equal("B", File.ReadAllText(moved));
        Assert.False(File.Exists(a));
        Assert.False(File.Exists(b));
    }

    [Fact]
    public async Task Move_Directory_MovesTree()
    {
        Write("tree/x/y.txt", "Y");
        var body = new JsonArray(new JsonObject { ["src"] = _dir.Combine("tree"), ["dest"] = _dir.Combine("moved-tree") });

        using var response = await Client.PostAsync("/files/mv", JsonBody(body.ToJsonString()));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("Y", File.ReadAllText(_dir.Combine("moved-tree", "x", "y.txt")));
    }

    [Fact]
    public async Task Move_MissingSource_Is404AndEarlierItemsNotMoved()
    {
        var a = Write("a.txt", "A");
        var body = new JsonArray(
            new JsonObject { ["src"] = a, ["dest"] = _dir.Combine("a2.txt") },
            new JsonObject { ["src"] = _dir.Combine("missing"), ["dest"] = _dir.Combine("x") });

        var (status, code, _) = await ErrorOf(await Client.PostAsync("/files/mv", JsonBody(body.ToJsonString())));

        Assert.Equal((404, "FILE_NOT_FOUND"), (status, code));
        Assert.True(File.Exists(a));
    }

    [Fact]
    public async Task Move_ExistingDestination_Is400AndBothKept()
    {
        var a = Write("a.txt", "A");
        var b = Write("b.txt", "B");
        var body = new JsonArray(new JsonObject { ["src"] = a, ["dest"] = b });

        var (status, _, message) = await ErrorOf(await Client.PostAsync("/files/mv", JsonBody(body.ToJsonString())));

        Assert.Equal(400, status);
        Assert.Contains("exists", message);
        Assert.Equal(("A", "B"), (File.ReadAllText(a), File.ReadAllText(b)));
    }

    [Fact]
    public async Task Move_RelativeDestination_Is400()
    {
        var body = new JsonArray(new JsonObject { ["src"] = Write("a", "A"), ["dest"] = "b" });
        var (status, code, message) = await ErrorOf(await Client.PostAsync("/files/mv", JsonBody(body.ToJsonString())));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
        Assert.Contains("dest", message);
    }

    [Fact]
    public async Task Search_DefaultPattern_ReturnsEveryFileRecursivelyButNoDirectories()
    {
        var files = new[] { Write("a.txt", "1"), Write("b.log", "2"), Write("deep/er/c.txt", "3") };

        var json = (await JsonOf(await Client.GetAsync("/files/search?" + Query(_dir.Path)))).AsArray();

        Assert.Equal(files.Order(StringComparer.Ordinal), json.Select(e => (string)e!["path"]!).Order(StringComparer.Ordinal));
        Assert.All(json, e => Assert.Equal("file", (string)e!["type"]!));
    }

    [Theory]
    [InlineData("*.txt", new[] { "a.txt", "deep/er/c.txt", "sp ace.txt" })]
    [InlineData("**", new[] { "a.txt", "b.log", "deep/er/c.txt", "sp ace.txt" })]
    [InlineData("?.log", new[] { "b.log" })]
    [InlineData("*.{log,txt}", new[] { "a.txt", "b.log", "deep/er/c.txt", "sp ace.txt" })]
    [InlineData("deep/**/*.txt", new[] { "deep/er/c.txt" })]
    [InlineData("[ab].*", new[] { "a.txt", "b.log" })]
    [InlineData("*.md", new string[0])]
    public async Task Search_Pattern_MatchesGlob(string pattern, string[] expected)
    {
        foreach (var f in new[] { "a.txt", "b.log", "deep/er/c.txt", "sp ace.txt" })
        {
            Write(f, "x");
        }

        var json = (await JsonOf(await Client.GetAsync($"/files/search?{Query(_dir.Path)}&pattern={Uri.EscapeDataString(pattern)}"))).AsArray();

        Assert.Equal(expected.Select(e => _dir.Combine(e)).Order(StringComparer.Ordinal), json.Select(e => (string)e!["path"]!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Search_DoesNotDescendIntoSymlinkedDirectory()
    {
        var outside = TestPaths.NewDirectory("outside");
        File.WriteAllText(Path.Combine(outside.Path, "secret.txt"), "s");
        Directory.CreateSymbolicLink(_dir.Combine("linked"), outside.Path);
        Write("mine.txt", "m");

        var json = (await JsonOf(await Client.GetAsync($"/files/search?{Query(_dir.Path)}&pattern=*.txt"))).AsArray();

        Assert.Equal([_dir.Combine("mine.txt")], json.Select(e => (string)e!["path"]!));
        outside.Dispose();
    }

    [Fact]
    public async Task Search_RootIsLinkToDirectory_SearchesItsTarget()
    {
        var real = Write("real/r.txt", "r");
        Directory.CreateSymbolicLink(_dir.Combine("alias"), _dir.Combine("real"));

        var json = (await JsonOf(await Client.GetAsync("/files/search?" + Query(_dir.Combine("alias"))))).AsArray();

        Assert.Equal([real], json.Select(e => (string)e!["path"]!));
    }

    [Fact]
    public async Task Info_NoPathParameter_EmptyMapAsUpstream()
    {
        var json = (await JsonOf(await Client.GetAsync("/files/info"))).AsObject();
        Assert.Empty(json);
    }

    [Fact]
    public async Task Search_BadInput_Is4xx()
    {
        Assert.Equal((400, "MISSING_QUERY"), Pick(await ErrorOf(await Client.GetAsync("/files/search"))));
        Assert.Equal((404, "FILE_NOT_FOUND"), Pick(await ErrorOf(await Client.GetAsync("/files/search?" + Query(_dir.Combine("nope"))))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/files/search?" + Query(Write("f", "x"))))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync($"/files/search?{Query(_dir.Path)}&pattern=%5Babc"))));
    }

    private static (int, string) Pick((int Status, string Code, string Message) e) => (e.Status, e.Code);

    [Fact]
    public async Task Replace_Verbose_ReturnsCountsAndKeepsModeAndOwner()
    {
        var a = Write("config.yaml", "host: localhost:8080\nother: localhost:8080\n");
        var b = Write("app.py", "DEBUG = False\n");
        File.SetUnixFileMode(a, (UnixFileMode)Convert.ToInt32("640", 8));
        using (await Client.PostAsync("/files/permissions", JsonBody(new JsonObject { [a] = new JsonObject { ["mode"] = 640, ["owner"] = "nobody" } }.ToJsonString())))
        {
        }
        var body = new JsonObject
        {
            [a] = new JsonObject { ["old"] = "localhost:8080", ["new"] = "0.0.0.0:9090" },
            [b] = new JsonObject { ["old"] = "DEBUG = True", ["new"] = "DEBUG = False" },
        };

        var json = await JsonOf(await Client.PostAsync("/files/replace?verbose=true", JsonBody(body.ToJsonString())));

        Assert.Equal(2, (int)json[a]!["replacedCount"]!);
        Assert.Equal(0, (int)json[b]!["replacedCount"]!);
        Assert.Equal("host: 0.0.0.0:9090\nother: 0.0.0.0:9090\n", File.ReadAllText(a));
        var info = (await JsonOf(await Client.GetAsync("/files/info?" + Query(a))))[a]!;
        Assert.Equal((640, "nobody"), ((int)info["mode"]!, (string)info["owner"]!));
        Assert.Empty(Stages(_dir.Path));
    }

    [Fact]
    public async Task Replace_NotVerbose_EmptyBody()
    {
        var a = Write("a", "aXa");
        using var response = await Client.PostAsync("/files/replace", JsonBody(new JsonObject { [a] = new JsonObject { ["old"] = "X", ["new"] = "ü" } }.ToJsonString()));
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
        Assert.Equal("aüa", File.ReadAllText(a));
    }

    [Fact]
    public async Task Replace_LargeFileMatchesAcrossChunkEdges_AllReplaced()
    {
        // 1 MiB of filler with a needle every 1000 bytes: some straddle the 256 KiB read chunks.
        var sb = new System.Text.StringBuilder();
        for (var i = 0; i < 1100; i++)
        {
            sb.Append(new string('.', 990)).Append("NEEDLE1234");
        }
        var a = Write("big", sb.ToString());

        var json = await JsonOf(await Client.PostAsync("/files/replace?verbose=true", JsonBody(new JsonObject { [a] = new JsonObject { ["old"] = "NEEDLE1234", ["new"] = "n" } }.ToJsonString())));

        Assert.Equal(1100, (int)json[a]!["replacedCount"]!);
        Assert.Equal(sb.ToString().Replace("NEEDLE1234", "n", StringComparison.Ordinal), File.ReadAllText(a));
    }

    [Fact]
    public async Task Replace_BadInput_Is4xxAndNothingChanged()
    {
        var a = Write("a", "old");
        var dir = Directory.CreateDirectory(_dir.Combine("d")).FullName;
        string Body(string path, string old) => new JsonObject { [a] = new JsonObject { ["old"] = "old", ["new"] = "new" }, [path] = new JsonObject { ["old"] = old, ["new"] = "x" } }.ToJsonString();

        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.PostAsync("/files/replace", JsonBody(Body(Write("b", "b"), ""))))));
        Assert.Equal((404, "FILE_NOT_FOUND"), Pick(await ErrorOf(await Client.PostAsync("/files/replace", JsonBody(Body(_dir.Combine("missing"), "o"))))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.PostAsync("/files/replace", JsonBody(Body(dir, "o"))))));
        Assert.Equal("old", File.ReadAllText(a));
    }

    [Fact]
    public async Task MakeDirectories_CreatesParentsWithModeAndOwner()
    {
        var deep = _dir.Combine("a", "b", "c d");
        var other = _dir.Combine("other");
        var body = new JsonObject
        {
            [deep] = new JsonObject { ["mode"] = 700, ["owner"] = "nobody", ["group"] = "nogroup" },
            [other] = new JsonObject { ["mode"] = 755 },
        };

        using var response = await Client.PostAsync("/directories", JsonBody(body.ToJsonString()));

        Assert.Equal(200, (int)response.StatusCode);
        var info = (await JsonOf(await Client.GetAsync("/files/info?" + Query(deep))))[deep]!;
        Assert.Equal(("directory", 700, "nobody", "nogroup"), ((string)info["type"]!, (int)info["mode"]!, (string)info["owner"]!, (string)info["group"]!));
        Assert.True(Directory.Exists(other));
    }

    [Fact]
    public async Task MakeDirectories_ExistingDirectory_KeepsItsMode()
    {
        var existing = Directory.CreateDirectory(_dir.Combine("e")).FullName;
        File.SetUnixFileMode(existing, (UnixFileMode)Convert.ToInt32("711", 8));

        using var response = await Client.PostAsync("/directories", JsonBody(new JsonObject { [existing] = new JsonObject { ["mode"] = 700 } }.ToJsonString()));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal((UnixFileMode)Convert.ToInt32("711", 8), File.GetUnixFileMode(existing));
    }

    [Fact]
    public async Task MakeDirectories_BadInput_Is400AndNothingCreated()
    {
        var first = _dir.Combine("first");
        var file = Write("file", "x");
        foreach (var bad in new JsonNode[] { new JsonObject { ["mode"] = 755, ["owner"] = "no-such-user-x" }, new JsonObject { ["mode"] = 755 } })
        {
            var path = bad["owner"] is null ? file : _dir.Combine("second");
            var body = new JsonObject { [first] = new JsonObject { ["mode"] = 755 }, [path] = bad.DeepClone() };
            var (status, code, _) = await ErrorOf(await Client.PostAsync("/directories", JsonBody(body.ToJsonString())));
            Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
            Assert.False(Directory.Exists(first));
        }
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.PostAsync("/directories", JsonBody("{\"relative\":{\"mode\":755}}")))));
    }

    [Fact]
    public async Task List_DefaultDepth_ImmediateChildrenInLexicalOrder()
    {
        Write("b.txt", "b");
        Write("a/inner.txt", "i");
        Write("C.txt", "c");

        var json = (await JsonOf(await Client.GetAsync("/directories/list?" + Query(_dir.Path)))).AsArray();

        Assert.Equal(["C.txt", "a", "b.txt"], json.Select(e => Path.GetFileName((string)e!["path"]!)));
        Assert.Equal("directory", (string)json[1]!["type"]!);
    }

    [Fact]
    public async Task List_Depth2_DescendantsFollowTheirParent_SymlinksNotTraversed()
    {
        Write("a/x.txt", "x");
        Write("a/y/z.txt", "z");
        Write("b.txt", "b");
        Directory.CreateSymbolicLink(_dir.Combine("l"), _dir.Combine("a"));

        var json = (await JsonOf(await Client.GetAsync($"/directories/list?{Query(_dir.Path)}&depth=2"))).AsArray();

        var rel = json.Select(e => Path.GetRelativePath(_dir.Path, (string)e!["path"]!)).ToArray();
        Assert.Equal(["a", "a/x.txt", "a/y", "b.txt", "l"], rel);
        Assert.Equal("symlink", (string)json[4]!["type"]!);
    }

    [Fact]
    public async Task List_Depth0_IsEmpty()
    {
        Write("a", "a");
        var json = (await JsonOf(await Client.GetAsync($"/directories/list?{Query(_dir.Path)}&depth=0"))).AsArray();
        Assert.Empty(json);
    }

    [Fact]
    public async Task List_BadInput_Is4xx()
    {
        var file = Write("f", "x");
        Directory.CreateSymbolicLink(_dir.Combine("l"), _dir.Path);
        Assert.Equal((400, "MISSING_QUERY"), Pick(await ErrorOf(await Client.GetAsync("/directories/list"))));
        Assert.Equal((404, "FILE_NOT_FOUND"), Pick(await ErrorOf(await Client.GetAsync("/directories/list?" + Query(_dir.Combine("nope"))))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/directories/list?" + Query(file)))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/directories/list?" + Query(_dir.Combine("l"))))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync($"/directories/list?{Query(_dir.Path)}&depth=-1"))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync($"/directories/list?{Query(_dir.Path)}&depth=x"))));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), Pick(await ErrorOf(await Client.GetAsync("/directories/list?path=rel"))));
    }

    [Fact]
    public async Task DeleteDirectories_Recursive_SymlinksInsideNotFollowed()
    {
        Write("tree/a/b/c.txt", "c");
        var outside = TestPaths.NewDirectory("outside");
        var precious = Path.Combine(outside.Path, "precious.txt");
        File.WriteAllText(precious, "p");
        Directory.CreateSymbolicLink(_dir.Combine("tree", "a", "link"), outside.Path);
        var linkToOutside = _dir.Combine("top-link");
        Directory.CreateSymbolicLink(linkToOutside, outside.Path);

        using var response = await Client.DeleteAsync("/directories?" + Query(_dir.Combine("tree"), linkToOutside, _dir.Combine("never-was")));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.False(Directory.Exists(_dir.Combine("tree")));
        Assert.False(Path.Exists(linkToOutside));
        Assert.Equal("p", File.ReadAllText(precious));
        outside.Dispose();
    }

    [Fact]
    public async Task DeleteDirectories_File_Is400AndKept()
    {
        var file = Write("f", "x");
        var (status, code, _) = await ErrorOf(await Client.DeleteAsync("/directories?" + Query(file)));
        Assert.Equal((400, "INVALID_REQUEST_BODY"), (status, code));
        Assert.True(File.Exists(file));
    }
}

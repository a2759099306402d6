using System.Text.Json.Nodes;
using static Execd.Files.Tests.FilesClient;

namespace Execd.Files.Tests;

/// <summary>
/// Issue 11: finding 7 (<c>..</c> components, one rule for every files route), finding 8 (regex timeout 400, mv of a
/// link to a directory) and finding 12 (one symlink rule: a change never goes through a link).
/// </summary>
public sealed class FilesHardeningTests : IAsyncLifetime
{
    private Daemon _daemon = null!;
    private readonly TestDirectory _dir = TestPaths.NewDirectory("harden");

    private HttpClient Client => _daemon.Client;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task DeleteDirectories_DotDotAfterAMissingComponent_Is400AndDeletesNothing()
    {
        var victim = Directory.CreateDirectory(_dir.Combine("victim")).FullName;
        File.WriteAllText(Path.Combine(victim, "keep"), "x");

        using var response = await Client.DeleteAsync("/directories?" + Query(victim + "/nonexistent/.."));

        var (status, code, message) = await ErrorOf(response);
        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
        Assert.Contains("'..'", message);
        Assert.True(File.Exists(Path.Combine(victim, "keep")));
    }

    [Fact]
    public async Task EveryRoute_RefusesDotDot()
    {
        var file = _dir.Combine("f.txt");
        File.WriteAllText(file, "old");
        var dotted = _dir.Combine("sub", "..", "f.txt");
        Directory.CreateDirectory(_dir.Combine("sub"));

        var responses = new List<HttpResponseMessage>
        {
            await Client.GetAsync("/files/info?" + Query(dotted)),
            await Client.DeleteAsync("/files?" + Query(dotted)),
            await Client.GetAsync("/files/download?" + Query(dotted)),
            await Client.GetAsync("/directories/list?" + Query(_dir.Combine("sub", ".."))),
            await Client.GetAsync("/files/search?" + Query(_dir.Combine("sub", ".."))),
            await Client.PostAsync("/files/replace", JsonBody(new JsonObject { [dotted] = new JsonObject { ["old"] = "old", ["new"] = "new" } }.ToJsonString())),
            await Client.PostAsync("/files/permissions", JsonBody(new JsonObject { [dotted] = new JsonObject { ["mode"] = 600 } }.ToJsonString())),
            await Client.PostAsync("/files/mv", JsonBody(new JsonArray { new JsonObject { ["src"] = dotted, ["dest"] = _dir.Combine("g.txt") } }.ToJsonString())),
            await Client.PostAsync("/directories", JsonBody(new JsonObject { [_dir.Combine("sub", "..", "new")] = new JsonObject() }.ToJsonString())),
            await Client.PostAsync("/files/upload", Upload((Meta(dotted), Bytes("uploaded")))),
        };

        foreach (var response in responses)
        {
            var (status, _, message) = await ErrorOf(response);
            Assert.Equal(400, status);
            Assert.Contains("'..'", message);
            response.Dispose();
        }
        Assert.Equal("old", File.ReadAllText(file));
        Assert.False(Directory.Exists(_dir.Combine("new")));
    }

    [Fact]
    public async Task Search_PatternThatHitsTheRegexTimeout_Is400SayingWhy()
    {
        var root = Directory.CreateDirectory(_dir.Combine("slow")).FullName;
        File.WriteAllText(Path.Combine(root, new string('a', 200)), "");
        var pattern = string.Concat(Enumerable.Repeat("*a", 25)) + "*b";

        using var response = await Client.GetAsync($"/files/search?path={Uri.EscapeDataString(root)}&pattern={Uri.EscapeDataString(pattern)}");

        var (status, code, message) = await ErrorOf(response);
        Assert.Equal(400, status);
        Assert.Equal("INVALID_REQUEST_BODY", code);
        Assert.Contains("too expensive", message);
    }

    [Fact]
    public async Task Move_SymlinkToADirectory_MovesTheLinkItself()
    {
        var target = Directory.CreateDirectory(_dir.Combine("realdir")).FullName;
        File.WriteAllText(Path.Combine(target, "inside"), "x");
        var link = _dir.Combine("link");
        File.CreateSymbolicLink(link, target);
        var dest = _dir.Combine("moved", "link2");

        using var response = await Client.PostAsync("/files/mv", JsonBody(new JsonArray { new JsonObject { ["src"] = link, ["dest"] = dest } }.ToJsonString()));

        Assert.Equal(200, (int)response.StatusCode);
        Assert.False(Path.Exists(link));
        Assert.Equal(target, new FileInfo(dest).LinkTarget);
        Assert.True(File.Exists(Path.Combine(target, "inside")));
    }

    [Fact]
    public async Task SymlinkRule_UploadReplacesTheLink_ReplaceAndPermissionsRefuseIt()
    {
        var target = _dir.Combine("target.txt");
        File.WriteAllText(target, "target-content");
        File.SetUnixFileMode(target, (UnixFileMode)Convert.ToInt32("644", 8));
        var link = _dir.Combine("link.txt");
        File.CreateSymbolicLink(link, target);
        var uploadLink = _dir.Combine("upload-link.txt");
        File.CreateSymbolicLink(uploadLink, target);

        using var replace = await Client.PostAsync("/files/replace", JsonBody(new JsonObject { [link] = new JsonObject { ["old"] = "target", ["new"] = "CHANGED" } }.ToJsonString()));
        using var permissions = await Client.PostAsync("/files/permissions", JsonBody(new JsonObject { [link] = new JsonObject { ["mode"] = 600 } }.ToJsonString()));
        using var upload = await Client.PostAsync("/files/upload", Upload((Meta(uploadLink), Bytes("uploaded"))));

        Assert.Equal(400, (await ErrorOf(replace)).Status);
        var (permissionStatus, _, permissionMessage) = await ErrorOf(permissions);
        Assert.Equal(400, permissionStatus);
        Assert.Contains("symbolic link", permissionMessage);
        Assert.Equal(200, (int)upload.StatusCode);
        Assert.Equal("target-content", File.ReadAllText(target));
        Assert.Equal(Convert.ToInt32("644", 8), (int)File.GetUnixFileMode(target));
        Assert.Null(new FileInfo(uploadLink).LinkTarget);
        Assert.Equal("uploaded", File.ReadAllText(uploadLink));
    }

    [Theory]
    [InlineData("4294967295", null)]
    [InlineData(null, "4294967295")]
    [InlineData("2147483648", null)]
    public async Task Permissions_NumericOwnerOrGroupBeyondInt32_Is400(string? owner, string? group)
    {
        var file = _dir.Combine("ids.txt");
        File.WriteAllText(file, "x");
        var dto = new JsonObject();
        if (owner is not null)
        {
            dto["owner"] = owner;
        }
        if (group is not null)
        {
            dto["group"] = group;
        }

        using var response = await Client.PostAsync("/files/permissions", JsonBody(new JsonObject { [file] = dto }.ToJsonString()));

        Assert.True(400 == (int)response.StatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        Assert.Contains("unknown", (await ErrorOf(response)).Message);
    }
}

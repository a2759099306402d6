using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Code.Tests;

/// <summary>A daemon with the Jupyter executor pointed at test-owned directories, and the /code calls as the SDKs make them.</summary>
internal sealed class CodeDaemon : IAsyncDisposable
{
    private CodeDaemon(Daemon daemon, TestDirectory dirs)
    {
        Daemon = daemon;
        Dirs = dirs;
    }

    public Daemon Daemon { get; }

    /// <summary>Owned by the test: <c>tmp/</c> (first runtime candidate), <c>state/</c> (second), <c>kernels/</c> (extra kernelspecs).</summary>
    public TestDirectory Dirs { get; }

    public HttpClient Client => Daemon.Client;

    public static async Task<CodeDaemon> StartAsync(Action<TestDirectory, Dictionary<string, string?>>? configure = null)
    {
        var dirs = TestPaths.NewDirectory("code");
        Directory.CreateDirectory(dirs.Combine("tmp"));
        Directory.CreateDirectory(dirs.Combine("state"));
        var settings = new Dictionary<string, string?>
        {
            ["Jupyter:Directories:0"] = dirs.Combine("tmp", "jupyter"),
            ["Jupyter:Directories:1"] = dirs.Combine("state", "jupyter"),
            ["Jupyter:KernelPaths:0"] = dirs.Combine("kernels"),
            ["Execd:Code:LanguageWait"] = "00:00:00.3",
        };
        configure?.Invoke(dirs, settings);
        try
        {
            return new CodeDaemon(await Daemon.StartAsync(settings), dirs);
        }
        catch
        {
            dirs.Dispose();
            throw;
        }
    }

    public async Task<(int Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async Task<string> CreateContextAsync(string language = "python", string? cwd = null)
    {
        var body = new JsonObject { ["language"] = language };
        if (cwd is not null)
        {
            body["cwd"] = cwd;
        }
        var (status, json) = await SendAsync(HttpMethod.Post, "/code/context", body.ToJsonString());
        Assert.True(status == 200, json?.ToJsonString());
        Assert.Equal(language, (string?)json!["language"]);
        return (string)json["id"]!;
    }

    /// <summary>POST /code as the C# SDK sends it and read the whole stream.</summary>
    public Task<CodeRun> RunAsync(string? contextId, string code, string? language = "python", long? timeout = null, CancellationToken ct = default)
    {
        var context = new JsonObject();
        if (contextId is not null)
        {
            context["id"] = contextId;
        }
        if (language is not null)
        {
            context["language"] = language;
        }
        var body = new JsonObject { ["code"] = code, ["context"] = context };
        if (timeout is not null)
        {
            body["timeout"] = timeout;
        }
        return RunRawAsync(body.ToJsonString(), ct);
    }

    public async Task<CodeRun> RunRawAsync(string json, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/code") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.Headers.TryGetValues("EXECD-COMMAND-ID", out var ids);
        return new CodeRun((int)response.StatusCode, text, ids?.FirstOrDefault());
    }

    public async Task<JsonArray> AdminAsync() => (JsonArray)(await SendAsync(HttpMethod.Get, "/admin/code")).Body!;

    public async Task<JsonObject> AdminEntryAsync(string id) =>
        (await AdminAsync()).OfType<JsonObject>().Single(o => (string?)o["id"] == id);

    public async ValueTask DisposeAsync()
    {
        await Daemon.DisposeAsync();
        Dirs.Dispose();
    }
}

/// <summary>A finished /code stream, parsed as the SDKs parse it.</summary>
internal sealed record CodeRun(int Status, string Body, string? CommandId)
{
    public IReadOnlyList<JsonObject> Events => SseParser.Parse(Body);

    /// <summary>The event types in order, without pings (which may come anywhere).</summary>
    public IReadOnlyList<string> Types => Events.Select(e => (string?)e["type"] ?? "(none)").Where(t => t != "ping").ToList();

    public string Stdout => string.Concat(Events.Where(e => (string?)e["type"] == "stdout").Select(e => (string?)e["text"]));

    public string Stderr => string.Concat(Events.Where(e => (string?)e["type"] == "stderr").Select(e => (string?)e["text"]));

    public IEnumerable<JsonObject> Results => Events.Where(e => (string?)e["type"] == "result").Select(e => (JsonObject)e["results"]!);

    public JsonObject? Error => (JsonObject?)Events.LastOrDefault(e => (string?)e["type"] == "error")?["error"];

    public string? InitText => (string?)Events.FirstOrDefault(e => (string?)e["type"] == "init")?["text"];
}

using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Execd.Server.Hosting;
using Microsoft.AspNetCore.Builder;

namespace Execd.Testing;

/// <summary>
/// A real daemon (the production <see cref="ExecdApp"/>, real Kestrel, real plugins from the build's
/// plugins folder) on a free loopback port, in this process.
/// </summary>
public sealed class Daemon : IAsyncDisposable
{
    private readonly WebApplication _app;

    /// <summary>Configuration keys of the directory lists of the file and tmpfs storage providers.</summary>
    public const string FilesDirectoriesKey = "Storage:Files:Directories";
    public const string TmpfsDirectoriesKey = "Storage:Tmpfs:Directories";

    private Daemon(WebApplication app, Uri baseAddress, string? token, TestDirectory? storage)
    {
        _app = app;
        StorageDirectory = storage;
        BaseAddress = baseAddress;
        Client = NewClient(token);
    }

    public Uri BaseAddress { get; }

    /// <summary>
    /// The test-owned directory the file and tmpfs providers point into when the test did not choose directories
    /// (<c>files</c> and <c>tmpfs</c> under it); null when the test chose them. Removed on dispose.
    /// </summary>
    public TestDirectory? StorageDirectory { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<Daemon> StartAsync(IDictionary<string, string?>? settings = null, string? token = null)
    {
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Execd:Port"] = "0",
            ["Execd:Host"] = "127.0.0.1",
            ["Execd:PluginsDir"] = TestPaths.PluginsDir,
            ["Execd:LogLevel"] = "4",
        };
        if (token is not null)
        {
            all["Execd:AccessToken"] = token;
        }
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            all[k] = v;
        }
        // Never the machine's /tmp, /var/tmp, $HOME or /dev/shm: unless the test chose, every file and tmpfs provider
        // points into a directory the test owns (the tmpfs one is not a tmpfs, so it reports Unhealthy and stores nothing).
        TestDirectory? storage = null;
        if (!all.ContainsKey(FilesDirectoriesKey) || !all.ContainsKey(TmpfsDirectoriesKey))
        {
            storage = TestPaths.NewDirectory("storage");
            all.TryAdd(FilesDirectoriesKey, storage.Combine("files"));
            all.TryAdd(TmpfsDirectoriesKey, storage.Combine("tmpfs"));
        }
        WebApplication app;
        try
        {
            app = ExecdApp.Build(all);
            await app.StartAsync();
        }
        catch
        {
            storage?.Dispose();
            throw;
        }
        var address = ExecdApp.Addresses(app).First();
        return new Daemon(app, new Uri(address), token, storage);
    }

    public HttpClient NewClient(string? token = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Add("X-EXECD-ACCESS-TOKEN", token);
        }
        return client;
    }

    /// <summary>POST /command and read the whole event stream.</summary>
    public Task<StreamResult> RunAsync(string command, object? extra = null, CancellationToken ct = default) =>
        RunJsonAsync(Body(command, extra), ct);

    public Task<StreamResult> RunJsonAsync(string json, CancellationToken ct = default) => RunJsonAsync(Client, json, ct);

    /// <summary>POST /command with <paramref name="json"/> to any daemon <paramref name="client"/> talks to (e.g. a child process) and read the whole event stream.</summary>
    public static async Task<StreamResult> RunJsonAsync(HttpClient client, string json, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/command") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        return new StreamResult((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType);
    }

    public static string Body(string command, object? extra = null)
    {
        var node = extra is null ? new JsonObject() : JsonSerializer.SerializeToNode(extra)!.AsObject();
        node["command"] = command;
        return node.ToJsonString();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        StorageDirectory?.Dispose();
    }
}

/// <summary>A finished event stream, parsed the way the SDKs parse it.</summary>
public sealed record StreamResult(int Status, string Body, string? ContentType)
{
    public IReadOnlyList<JsonObject> Events => SseParser.Parse(Body);

    public IEnumerable<string> Texts(string type) => Events.Where(e => (string?)e["type"] == type).Select(e => (string?)e["text"] ?? "");

    public string? Id => Events.FirstOrDefault(e => (string?)e["type"] == "init")?["text"]?.GetValue<string>();

    /// <summary>Exit code as the SDKs infer it: an error's integer evalue wins, else 0 on completion, else null.</summary>
    public int? ExitCode
    {
        get
        {
            var error = Events.LastOrDefault(e => (string?)e["type"] == "error");
            if (error is not null)
            {
                return int.TryParse((string?)error["error"]?["evalue"], out var code) ? code : null;
            }
            return Events.Any(e => (string?)e["type"] == "execution_complete") ? 0 : null;
        }
    }
}

/// <summary>The SDKs' stream parser: lines, trimmed, <c>data:</c> stripped, whole JSON objects only.</summary>
public static class SseParser
{
    public static IReadOnlyList<JsonObject> Parse(string body)
    {
        var events = new List<JsonObject>();
        foreach (var raw in body.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith(':') || line.StartsWith("event:", StringComparison.Ordinal) || line.StartsWith("id:", StringComparison.Ordinal))
            {
                continue;
            }
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                line = line[5..].Trim();
            }
            try
            {
                if (JsonNode.Parse(line) is JsonObject o)
                {
                    events.Add(o);
                }
            }
            catch (JsonException)
            {
            }
        }
        return events;
    }
}

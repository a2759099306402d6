using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Execd.Sessions.Tests;

/// <summary>The session calls as the SDKs make them, on a real daemon.</summary>
internal static class SessionClient
{
    public static async Task<string> CreateAsync(this Daemon daemon, string? cwd = null)
    {
        // As the C# SDK: no body at all when there is no cwd.
        using var content = cwd is null ? null : Json(new JsonObject { ["cwd"] = cwd });
        using var response = await daemon.Client.PostAsync("/session", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!["session_id"]!.GetValue<string>();
    }

    public static async Task<SessionRun> RunInAsync(this Daemon daemon, string session, string command, long? timeout = null, string? cwd = null,
        CancellationToken ct = default)
    {
        var body = new JsonObject { ["command"] = command };
        if (timeout is not null)
        {
            body["timeout"] = timeout;
        }
        if (cwd is not null)
        {
            body["cwd"] = cwd;
        }
        return await daemon.RunRawAsync(session, body.ToJsonString(), ct);
    }

    /// <summary>How long any run may take in these tests: a run that never ends fails its test instead of hanging the suite.</summary>
    public static readonly TimeSpan RunBound = TimeSpan.FromMinutes(2);

    public static async Task<SessionRun> RunRawAsync(this Daemon daemon, string session, string json, CancellationToken ct = default)
    {
        // HttpClient.Timeout stops at the headers; the event stream after them needs its own bound.
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(RunBound);
        ct = bound.Token;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/session/{session}/run") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await daemon.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        response.Headers.TryGetValues("EXECD-COMMAND-ID", out var ids);
        return new SessionRun(new StreamResult((int)response.StatusCode, text, response.Content.Headers.ContentType?.MediaType), ids?.FirstOrDefault());
    }

    /// <summary>Starts a run and returns once its headers (and so its command id) have arrived; the body is read by <see cref="OpenRun.ReadToEndAsync"/>.</summary>
    public static async Task<OpenRun> StartRunAsync(this Daemon daemon, string session, string command, long? timeout = null)
    {
        var body = new JsonObject { ["command"] = command };
        if (timeout is not null)
        {
            body["timeout"] = timeout;
        }
        var request = new HttpRequestMessage(HttpMethod.Post, $"/session/{session}/run") { Content = Json(body) };
        var response = await daemon.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new OpenRun(request, response);
    }

    public static async Task<(int Status, string Body)> DeleteAsync(this Daemon daemon, string session)
    {
        using var response = await daemon.Client.DeleteAsync($"/session/{session}");
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public static async Task<JsonArray> ListAsync(this Daemon daemon) =>
        JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/sessions"))!.AsArray();

    public static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");

    public static string SingleQuoted(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

internal sealed record SessionRun(StreamResult Stream, string? CommandId)
{
    public int Status => Stream.Status;
    public IReadOnlyList<string> Stdout => [.. Stream.Texts("stdout")];
    public IReadOnlyList<string> Stderr => [.. Stream.Texts("stderr")];
    public int? ExitCode => Stream.ExitCode;
    public string? Traceback => (string?)Stream.Events.LastOrDefault(e => (string?)e["type"] == "error")?["error"]?["traceback"]?[0];
    public JsonNode? Body => Stream.Status == 200 ? null : JsonNode.Parse(Stream.Body);
}

internal sealed class OpenRun(HttpRequestMessage request, HttpResponseMessage response) : IDisposable
{
    private Stream? _body;
    private readonly StringBuilder _text = new();

    public string CommandId => response.Headers.GetValues("EXECD-COMMAND-ID").Single();

    /// <summary>Reads until a line containing <paramref name="marker"/> arrived, and returns that line's stdout text.</summary>
    public async Task<string> ReadUntilAsync(string marker, TimeSpan within)
    {
        _body ??= await response.Content.ReadAsStreamAsync();
        using var cts = new CancellationTokenSource(within);
        var buffer = new byte[4096];
        while (true)
        {
            var found = SseParser.Parse(_text.ToString()).Select(e => (string?)e["text"]).FirstOrDefault(t => t?.Contains(marker, StringComparison.Ordinal) == true);
            if (found is not null)
            {
                return found;
            }
            var n = await _body.ReadAsync(buffer, cts.Token);
            if (n == 0)
            {
                throw new InvalidOperationException($"stream ended before '{marker}': {_text}");
            }
            _text.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }
    }

    public async Task<StreamResult> ReadToEndAsync()
    {
        _body ??= await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(_body);
        using var bound = new CancellationTokenSource(SessionClient.RunBound);
        _text.Append(await reader.ReadToEndAsync(bound.Token));
        return new StreamResult((int)response.StatusCode, _text.ToString(), response.Content.Headers.ContentType?.MediaType);
    }

    public void Dispose()
    {
        response.Dispose();
        request.Dispose();
    }
}

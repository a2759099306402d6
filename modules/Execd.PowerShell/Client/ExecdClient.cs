using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Execd.PowerShell.Client;

/// <summary>
/// The HTTP side of the cmdlets. One handler per process (connections are pooled across cmdlets); every
/// failure becomes an <see cref="ExecdException"/>.
/// </summary>
internal sealed class ExecdClient(ExecdConnection connection)
{
    public const string TokenHeader = "X-EXECD-ACCESS-TOKEN";
    public const string TailCursorHeader = "EXECD-COMMANDS-TAIL-CURSOR";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    // Streams last as long as their command: no client-wide timeout; cmdlets cancel on Ctrl+C instead.
    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        UseProxy = false,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    public ExecdConnection Connection { get; } = connection;

    public Uri Uri => Connection.Uri;

    public HttpRequestMessage Request(HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, new Uri(Uri, path));
        if (Connection.AccessToken is { Length: > 0 } token)
        {
            request.Headers.TryAddWithoutValidation(TokenHeader, token);
        }
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, Json), Encoding.UTF8, "application/json");
        }
        return request;
    }

    /// <summary>Sends and returns a successful response (headers read; the body may still be streaming).</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancel, params HttpStatusCode[] alsoAccept)
    {
        HttpResponseMessage response;
        try
        {
            response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw ExecdException.Unreachable(Uri, ex);
        }
        if (response.IsSuccessStatusCode || alsoAccept.Contains(response.StatusCode))
        {
            return response;
        }
        using (response)
        {
            string? code = null, message = null;
            try
            {
                var body = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
                if (JsonNode.Parse(body) is JsonObject error)
                {
                    code = (string?)error["code"];
                    message = (string?)error["message"];
                }
            }
            catch (JsonException)
            {
                // Not our error shape (a proxy, another server): the status alone has to do.
            }
            throw ExecdException.FromResponse(Uri, response.StatusCode, code, message);
        }
    }

    public async Task<T> GetJsonAsync<T>(string path, CancellationToken cancel, params HttpStatusCode[] alsoAccept)
    {
        using var response = await SendAsync(Request(HttpMethod.Get, path), cancel, alsoAccept).ConfigureAwait(false);
        return await ReadJsonAsync<T>(response, cancel).ConfigureAwait(false);
    }

    public async Task<T> SendJsonAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancel)
    {
        using var response = await SendAsync(Request(method, path, body), cancel).ConfigureAwait(false);
        return await ReadJsonAsync<T>(response, cancel).ConfigureAwait(false);
    }

    public async Task SendAsync(HttpMethod method, string path, CancellationToken cancel)
    {
        using var response = await SendAsync(Request(method, path), cancel).ConfigureAwait(false);
    }

    private async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, CancellationToken cancel)
    {
        try
        {
            var value = await response.Content.ReadFromJsonAsync<T>(cancel).ConfigureAwait(false);
            return value ?? throw new JsonException("empty body");
        }
        catch (JsonException ex)
        {
            throw new ExecdException("ExecdBadResponse", System.Management.Automation.ErrorCategory.InvalidResult,
                $"execd at {Uri} answered {response.RequestMessage?.RequestUri?.AbsolutePath} with an unexpected body: {ex.Message}", inner: ex);
        }
    }

    /// <summary>Writes <paramref name="data"/> to the stdin of a command started with <c>"stdin": true</c>.</summary>
    public async Task WriteStdinAsync(string id, byte[] data, CancellationToken cancel)
    {
        var request = Request(HttpMethod.Post, $"command/{Uri.EscapeDataString(id)}/stdin");
        request.Content = new ByteArrayContent(data);
        using var response = await SendAsync(request, cancel).ConfigureAwait(false);
    }

    public Task<CommandStatusDto> StatusAsync(string id, CancellationToken cancel) =>
        GetJsonAsync<CommandStatusDto>("command/status/" + Uri.EscapeDataString(id), cancel);

    /// <summary>One read of a command's stored output from <paramref name="cursor"/>: the bytes and the next cursor.</summary>
    public async Task<(byte[] Data, long NextCursor)> LogsAsync(string id, long cursor, CancellationToken cancel)
    {
        using var response = await SendAsync(Request(HttpMethod.Get, $"command/{Uri.EscapeDataString(id)}/logs?cursor={cursor}"), cancel).ConfigureAwait(false);
        var data = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
        var next = response.Headers.TryGetValues(TailCursorHeader, out var values) && long.TryParse(values.FirstOrDefault(), out var n)
            ? n
            : cursor + data.Length;
        return (data, next);
    }

    /// <summary>
    /// Opens <c>GET /command/{id}/stream</c> resuming right after output offset <paramref name="cursor"/> (null: from the start). Events carry
    /// their offset in <see cref="ExecdEvent.EventId"/>: pass the last one seen to resume after a dropped connection.
    /// </summary>
    public async Task<EventReader> OpenStreamAsync(string id, long? cursor, CancellationToken cancel)
    {
        var request = Request(HttpMethod.Get, $"command/{Uri.EscapeDataString(id)}/stream" + (cursor is { } c ? $"?cursor={c}" : ""));
        AcceptEventStream(request);
        var response = await SendAsync(request, cancel).ConfigureAwait(false);
        try
        {
            return new EventReader(await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false), response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public static void AcceptEventStream(HttpRequestMessage request) =>
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
}

internal static class HttpContentJson
{
    public static async Task<T?> ReadFromJsonAsync<T>(this HttpContent content, CancellationToken cancel)
    {
        await using var stream = await content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync<T>(stream, ExecdClient.Json, cancel).ConfigureAwait(false);
    }
}

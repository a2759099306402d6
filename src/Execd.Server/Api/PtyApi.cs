using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Commands;
using Execd.Core.Sessions;
using Execd.Core.Terminals;
using Execd.Server.Terminals;

namespace Execd.Server.Api;

/// <summary>
/// <c>/pty</c>: interactive terminals over WebSocket (upstream's protocol; see the README's terminal section for
/// what differs) and <c>GET /admin/pty</c>.
/// </summary>
public static class PtyApi
{
    public const string AlreadyConnected = "ALREADY_CONNECTED";
    public const string TooManySessions = "TOO_MANY_SESSIONS";
    public const string InvalidQuery = "INVALID_QUERY";
    public const string NotWebSocket = "NOT_A_WEBSOCKET_REQUEST";

    private static readonly TimeSpan TakeoverWait = TimeSpan.FromSeconds(5);

    public static IEndpointRouteBuilder MapPty(this IEndpointRouteBuilder app)
    {
        app.MapPost("/pty", CreateAsync);
        app.MapGet("/pty/{id}", Status);
        app.MapDelete("/pty/{id}", DeleteAsync);
        app.MapGet("/pty/{id}/ws", ConnectAsync);
        app.MapGet("/admin/pty", List);
        return app;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, TerminalService terminals, SessionService sessions, ILogger<TerminalService> logger)
    {
        CreateTerminalRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, TerminalWireJson.Default.CreateTerminalRequest, http.RequestAborted);
        }
        catch (JsonException ex) when (ex.Message.Contains("does not contain any JSON tokens", StringComparison.Ordinal))
        {
            request = null; // an empty body is fine: defaults
        }
        catch (JsonException ex)
        {
            logger.LogInformation("Rejected POST /pty: invalid body ({Reason})", ex.Message);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error parsing request: {ex.Message}");
        }
        if (request?.Command?.Contains('\0', StringComparison.Ordinal) == true)
        {
            logger.LogInformation("Rejected POST /pty: NUL in command");
            return ApiError.Of(400, ApiError.InvalidRequestBody, "the command contains a NUL character, which a shell cannot hold");
        }
        // Upstream's rules (expand ~ and $VAR, create the directory); upstream answers a failure with 500 and two JSON documents.
        var (directory, error) = sessions.ResolveDirectory(request?.Cwd, EnvironmentBuilder.ProcessEnvironment(), create: true);
        if (error is not null)
        {
            logger.LogInformation("Rejected POST /pty: {Reason}", error);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error creating pty session: {error}");
        }
        var session = terminals.Create(directory, request?.Command);
        if (session is null)
        {
            logger.LogWarning("Rejected POST /pty: {Max} terminals exist", terminals.Options.MaxSessions);
            return ApiError.Of(429, TooManySessions, $"too many pty sessions: at most {terminals.Options.MaxSessions} may exist; delete one first");
        }
        return TypedResults.Json(new CreateTerminalResponse(session.Id), TerminalWireJson.Default.CreateTerminalResponse,
            contentType: "application/json; charset=utf-8", statusCode: 201);
    }

    private static IResult Status(string id, TerminalService terminals)
    {
        if (!terminals.TryGet(id, out var session))
        {
            return NotFound(id);
        }
        return TypedResults.Json(Describe(session), TerminalWireJson.Default.TerminalStatus, contentType: "application/json; charset=utf-8");
    }

    private static async Task<IResult> DeleteAsync(string id, TerminalService terminals, ILogger<TerminalService> logger)
    {
        if (!await terminals.DeleteAsync(id))
        {
            logger.LogInformation("Rejected DELETE /pty/{Id}: no such session", id);
            return NotFound(id);
        }
        return ApiError.EmptyOk();
    }

    private static async Task ConnectAsync(string id, HttpContext http, TerminalService terminals, TimeProvider time, ILogger<TerminalService> logger)
    {
        if (!terminals.TryGet(id, out var session))
        {
            logger.LogInformation("Rejected /pty/{Id}/ws: no such session", id);
            await ApiError.WriteAsync(http, 404, ApiError.ContextNotFound, $"pty session {id} not found");
            return;
        }
        var query = http.Request.Query;
        if (!TryParseSince(query["since"].ToString(), out var since))
        {
            logger.LogInformation("Rejected /pty/{Id}/ws: since={Since}", id, query["since"].ToString());
            await ApiError.WriteAsync(http, 400, InvalidQuery, $"since must be an integer byte offset, got \"{query["since"]}\"");
            return;
        }
        var mode = query["pty"].ToString() == "0" ? TerminalMode.Pipe : TerminalMode.Pty;
        var isWebSocket = http.WebSockets.IsWebSocketRequest;
        var takeover = query["takeover"].ToString() == "1" && isWebSocket;

        // The connection object is the lock's token; the socket is attached once the upgrade succeeded.
        var holder = new Holder();
        if (!takeover && !session.TryHold(holder))
        {
            logger.LogInformation("Rejected /pty/{Id}/ws: another client is connected", id);
            await ApiError.WriteAsync(http, 409, AlreadyConnected, $"another client is already connected to pty session {id}");
            return;
        }
        if (!isWebSocket)
        {
            session.Release(holder);
            logger.LogInformation("Rejected /pty/{Id}/ws: not a WebSocket upgrade", id);
            await ApiError.WriteAsync(http, 400, NotWebSocket, "GET /pty/{id}/ws needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)");
            return;
        }
        var options = terminals.Options;
        System.Net.WebSockets.WebSocket socket;
        try
        {
            socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = options.KeepAliveInterval,
                KeepAliveTimeout = options.KeepAliveTimeout,
            });
        }
        catch
        {
            session.Release(holder);
            throw;
        }
        var connection = new TerminalConnection(socket, session, terminals, time, logger);
        if (takeover)
        {
            if (session.TakeOver(connection) is { } previous)
            {
                await EvictAsync(previous, id, logger);
            }
        }
        else if (!session.Replace(holder, connection))
        {
            // Someone took it over while we upgraded: they win, and this client is closed with 4001.
            connection.Evict();
        }
        await connection.RunAsync(since, mode, http.RequestAborted);
    }

    private static async Task EvictAsync(object previous, string id, ILogger logger)
    {
        if (previous is not TerminalConnection old)
        {
            return; // a connect still upgrading: it sees it lost the terminal when it swaps itself in
        }
        old.Evict();
        try
        {
            await old.Done.WaitAsync(TakeoverWait);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("Terminal {Id}: the previous client did not leave within {Wait}; taking over anyway", id, TakeoverWait);
        }
    }

    /// <summary>Absent or empty: 0 (the whole scrollback, as upstream). Negative: the oldest byte held.</summary>
    internal static bool TryParseSince(string text, out long since)
    {
        since = 0;
        return text.Length == 0 || long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out since);
    }

    private sealed class Holder;

    private static IResult NotFound(string id) => ApiError.Of(404, ApiError.ContextNotFound, $"pty session {id} not found");

    private static TerminalStatus Describe(TerminalSession s) => new(
        s.Id, s.Running, s.OutputOffset, s.Exit?.ExitCode, s.Mode is { } m ? (m == TerminalMode.Pty ? "pty" : "pipe") : null,
        s.Record?.Id, s.Record?.ProcessId, s.Directory, s.Command, s.Attached,
        CommandsApi.Rfc3339(s.CreatedAt), CommandsApi.Rfc3339(s.LastActivityAt));

    private static IResult List(TerminalService terminals) => TypedResults.Json(
        new TerminalListing(terminals.ExecutorName, terminals.Options.MaxSessions, SessionService.GoDuration(terminals.Options.IdleTimeout),
            terminals.All.OrderBy(s => s.CreatedAt).Select(Describe).ToArray()),
        TerminalWireJson.Default.TerminalListing);
}

/// <summary>Body of <c>POST /pty</c> (optional).</summary>
public sealed class CreateTerminalRequest
{
    public string? Cwd { get; set; }
    public string? Command { get; set; }
}

public sealed record CreateTerminalResponse(string SessionId);

/// <summary><c>GET /pty/{id}</c>: upstream's three fields, then extensions.</summary>
public sealed record TerminalStatus(
    string SessionId,
    bool Running,
    long OutputOffset,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ExitCode,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Mode,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? CommandId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Pid,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Cwd,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Command,
    bool Attached,
    string CreatedAt,
    string LastActivityAt);

/// <summary><c>GET /admin/pty</c>.</summary>
public sealed record TerminalListing(string? Executor, int MaxSessions, string IdleTimeout, TerminalStatus[] Sessions);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    PropertyNameCaseInsensitive = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(CreateTerminalRequest))]
[JsonSerializable(typeof(CreateTerminalResponse))]
[JsonSerializable(typeof(TerminalStatus))]
[JsonSerializable(typeof(TerminalListing))]
public sealed partial class TerminalWireJson : JsonSerializerContext;

using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Commands;
using Execd.Core.Sessions;
using Execd.Server.Hosting;
using Execd.Server.Streaming;
using Microsoft.Extensions.Options;

namespace Execd.Server.Api;

/// <summary>
/// <c>/session</c>: bash sessions that keep their state (create, run with a streamed result, delete) and
/// <c>GET /admin/sessions</c>. A run is a command: it has its own command id (response header
/// <see cref="CommandIdHeader"/>), and status, logs and interrupt work on that id.
/// </summary>
public static class SessionsApi
{
    /// <summary>Extension header of a session run: the run's command id (the <c>init</c> event carries the session id, as upstream).</summary>
    public const string CommandIdHeader = "EXECD-COMMAND-ID";

    /// <summary>Error code of the 429 answered when <c>Execd:Sessions:MaxSessions</c> sessions are live.</summary>
    public const string SessionLimitReached = "SESSION_LIMIT_REACHED";

    /// <summary>Upstream caps a run without a timeout at 24 h.</summary>
    private static readonly TimeSpan DefaultRunTimeout = TimeSpan.FromHours(24);

    public static IEndpointRouteBuilder MapSessions(this IEndpointRouteBuilder app)
    {
        app.MapPost("/session", CreateAsync);
        app.MapPost("/session/{id}/run", RunAsync);
        app.MapDelete("/session/{id}", DeleteAsync);
        app.MapGet("/admin/sessions", List);
        return app;
    }

    private static async Task<IResult> CreateAsync(HttpContext http, SessionService sessions, ILogger<SessionService> logger)
    {
        CreateSessionRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, SessionWireJson.Default.CreateSessionRequest, http.RequestAborted);
        }
        catch (JsonException ex) when (IsEmpty(ex))
        {
            request = null; // no body (the C# SDK sends none): defaults
        }
        catch (JsonException ex)
        {
            logger.LogInformation("Rejected POST /session: invalid body ({Reason})", ex.Message);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error parsing request. {ex.Message}");
        }
        var (directory, error) = WorkingDirectory.Resolve(request?.Cwd, EnvironmentBuilder.ProcessEnvironment(), create: true);
        if (error is not null)
        {
            logger.LogInformation("Rejected POST /session: {Reason}", error);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error creating session. {error}");
        }
        try
        {
            var entry = await sessions.CreateAsync(directory, http.RequestAborted);
            return TypedResults.Json(new CreateSessionResponse(entry.Id), SessionWireJson.Default.CreateSessionResponse, contentType: "application/json; charset=utf-8");
        }
        catch (SessionLimitException ex)
        {
            logger.LogInformation("Rejected POST /session: {Reason}", ex.Message);
            return ApiError.Of(429, SessionLimitReached, $"error creating session. {ex.Message}");
        }
        catch (CommandStartException ex)
        {
            logger.LogError("POST /session failed: {Error}", ex.Message);
            return ApiError.Of(500, ApiError.RuntimeError, $"error creating session. {ex.Message}");
        }
    }

    private static async Task<IResult> RunAsync(string id, HttpContext http, SessionService sessions, IOptions<ExecdOptions> options,
        TimeProvider time, ILogger<SessionService> logger)
    {
        RunInSessionRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, SessionWireJson.Default.RunInSessionRequest, http.RequestAborted);
        }
        catch (JsonException ex)
        {
            var reason = IsEmpty(ex) ? "EOF" : ex.Message;
            logger.LogInformation("Rejected POST /session/{Id}/run: invalid body ({Reason})", id, reason);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error parsing request. {reason}");
        }
        var invalid = Validate(request);
        if (invalid is not null)
        {
            logger.LogInformation("Rejected POST /session/{Id}/run: {Reason}", id, invalid);
            return ApiError.Of(400, ApiError.InvalidRequestBody, invalid);
        }
        if (!sessions.TryGet(id, out var entry))
        {
            logger.LogInformation("Rejected POST /session/{Id}/run: no such session", id);
            return NotFound(sessions, id, "error running in session. ");
        }
        var (directory, error) = WorkingDirectory.Resolve(request!.Cwd, EnvironmentBuilder.ProcessEnvironment());
        if (error is not null)
        {
            logger.LogInformation("Rejected POST /session/{Id}/run: {Reason}", id, error);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"invalid request, validation error {error}");
        }

        var timeout = request.Timeout is > 0 ? TimeSpan.FromMilliseconds(request.Timeout.Value) : DefaultRunTimeout;
        Execd.Core.Commands.OutputReader? live = null;
        var record = sessions.Run(entry, request.Command!, directory, timeout, r => live = r.Log.Subscribe());
        logger.LogInformation("Session {Session}: run {Id} started", id, record.Id);

        http.Response.Headers[CommandIdHeader] = record.Id;
        EventStreamWriter.SetHeaders(http.Response);
        var events = EventStreamWriter.For(http, options.Value.RawFraming, time);
        // A disconnect leaves the run going (it stays in /command/status and can be interrupted by its id);
        // the session keeps its state.
        await CommandEventStream.ForegroundAsync(record, live!, events, time, http.RequestAborted, initText: id);
        return Results.Empty;
    }

    private static string? Validate(RunInSessionRequest? request)
    {
        if (string.IsNullOrEmpty(request?.Command))
        {
            return "invalid request. Key: 'RunInSessionRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag";
        }
        if (request.Timeout < 0)
        {
            return "invalid request. Key: 'RunInSessionRequest.Timeout' Error:Field validation for 'Timeout' failed on the 'gte' tag";
        }
        if (CommandRequestValidator.TimeoutError(request.Timeout) is { } timeoutError)
        {
            return "invalid request. " + timeoutError;
        }
        if (request.Command.Contains('\0', StringComparison.Ordinal))
        {
            return "invalid request. the command contains a NUL character, which a shell cannot hold";
        }
        return null;
    }

    private static async Task<IResult> DeleteAsync(string id, SessionService sessions, ILogger<SessionService> logger)
    {
        if (!await sessions.DeleteAsync(id))
        {
            logger.LogInformation("Rejected DELETE /session/{Id}: no such session", id);
            return NotFound(sessions, id, "");
        }
        return EmptyBody.Ok();
    }

    private static IResult NotFound(SessionService sessions, string id, string prefix) =>
        ApiError.Of(404, ApiError.ContextNotFound, sessions.EndedReason(id) is { } reason
            ? $"{prefix}session {id} not found: it has ended ({reason})"
            : $"{prefix}session {id} not found");

    private static IResult List(SessionService sessions) => TypedResults.Json(
        sessions.All.Where(e => e.Shell.EndReason is null).OrderBy(e => e.CreatedAt).Select(e => new SessionInfo(
            e.Id, e.Shell.CurrentDirectory, e.Shell.ProcessId, CommandsApi.Rfc3339(e.CreatedAt), CommandsApi.Rfc3339(e.LastUsedAt),
            e.Running ? "running" : "idle")).ToArray(),
        SessionWireJson.Default.SessionInfoArray);

    private static bool IsEmpty(JsonException ex) => ex.Message.Contains("does not contain any JSON tokens", StringComparison.Ordinal);
}

/// <summary>Body of <c>POST /session</c> (optional).</summary>
public sealed class CreateSessionRequest
{
    public string? Cwd { get; set; }
}

public sealed record CreateSessionResponse(string SessionId);

/// <summary>Body of <c>POST /session/{id}/run</c>.</summary>
public sealed class RunInSessionRequest
{
    public string? Command { get; set; }
    public string? Cwd { get; set; }
    public long? Timeout { get; set; }
}

/// <summary>One entry of <c>GET /admin/sessions</c>.</summary>
public sealed record SessionInfo(string Id, string? Cwd, int? Pid, string CreatedAt, string LastUsedAt, string State);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    PropertyNameCaseInsensitive = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(CreateSessionRequest))]
[JsonSerializable(typeof(CreateSessionResponse))]
[JsonSerializable(typeof(RunInSessionRequest))]
[JsonSerializable(typeof(SessionInfo[]))]
public sealed partial class SessionWireJson : JsonSerializerContext;

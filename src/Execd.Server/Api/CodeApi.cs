using System.Text.Json;
using System.Text.Json.Serialization;
using Execd.Core.Code;
using Execd.Core.Commands;
using Execd.Core.Sessions;
using Execd.Server.Hosting;
using Execd.Server.Streaming;
using Microsoft.Extensions.Options;

namespace Execd.Server.Api;

/// <summary>
/// <c>/code*</c>: language contexts backed by code executors (Jupyter kernels) and cells run in them, wire-compatible
/// with upstream's code-interpreter SDKs; <c>GET /admin/code</c>. A run is a command: its command id is in the
/// <see cref="SessionsApi.CommandIdHeader"/> header, and status, logs and interrupt work on it.
/// </summary>
public static class CodeApi
{
    public const string ContextDead = "CONTEXT_DEAD";
    public const string UnknownLanguage = "UNKNOWN_LANGUAGE";

    public static IEndpointRouteBuilder MapCode(this IEndpointRouteBuilder app)
    {
        app.MapPost("/code/context", CreateAsync);
        app.MapGet("/code/contexts", List);
        app.MapDelete("/code/contexts", DeleteByLanguageAsync);
        app.MapGet("/code/contexts/{id}", Get);
        app.MapDelete("/code/contexts/{id}", DeleteAsync);
        app.MapPost("/code", RunAsync);
        app.MapDelete("/code", InterruptAsync);
        app.MapGet("/admin/code", Admin);
        app.MapGet("/admin/code/languages", Languages);
        return app;
    }

    private static async Task<(T? Body, IResult? Error)> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, ILogger logger)
        where T : class
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync(http.Request.Body, type, http.RequestAborted);
            return body is null ? (null, Invalid(http, logger, "EOF")) : (body, null);
        }
        catch (JsonException ex)
        {
            var reason = ex.Message.Contains("does not contain any JSON tokens", StringComparison.Ordinal) ? "EOF" : ex.Message;
            return (null, Invalid(http, logger, reason));
        }
    }

    private static IResult Invalid(HttpContext http, ILogger logger, string reason)
    {
        logger.LogInformation("Rejected {Method} {Path}: invalid body ({Reason})", http.Request.Method, http.Request.Path, reason);
        return ApiError.Of(400, ApiError.InvalidRequestBody, $"error parsing request, MAYBE invalid body format. {reason}");
    }

    private static async Task<IResult> CreateAsync(HttpContext http, CodeService code, ILogger<CodeService> logger)
    {
        var (request, error) = await ReadAsync(http, CodeWireJson.Default.CodeContextRequest, logger);
        if (error is not null)
        {
            return error;
        }
        if (string.IsNullOrEmpty(request!.Language))
        {
            return LanguageError(code, logger, "", "error creating code context. language is required");
        }
        var (directory, invalid) = WorkingDirectory.Resolve(request.Cwd, EnvironmentBuilder.ProcessEnvironment(), create: true);
        if (invalid is not null)
        {
            logger.LogInformation("Rejected POST /code/context: {Reason}", invalid);
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error creating code context. {invalid}");
        }
        try
        {
            var entry = await code.CreateAsync(request.Language, directory, http.RequestAborted);
            return Json(new CodeContextResponse(entry.Id, entry.Context.Language, request.Cwd));
        }
        catch (UnknownLanguageException ex)
        {
            return LanguageError(code, logger, request.Language, $"error creating code context. {ex.Message}");
        }
        catch (CommandStartException ex)
        {
            logger.LogError("POST /code/context ({Language}) failed: {Error}", request.Language, ex.Message);
            return ApiError.Of(500, ApiError.RuntimeError, $"error creating code context. {ex.Message}");
        }
    }

    private static IResult LanguageError(CodeService code, ILogger logger, string language, string message)
    {
        if (!message.Contains("available:", StringComparison.Ordinal))
        {
            message += $"; available: {string.Join(", ", code.Languages().Select(l => l.Language.Language))}";
        }
        logger.LogInformation("Rejected code request for language '{Language}': {Message}", language, message);
        return ApiError.Of(400, UnknownLanguage, message);
    }

    private static IResult List(HttpContext http, CodeService code)
    {
        var language = http.Request.Query["language"].ToString();
        var items = code.All.Where(e => language.Length == 0 || e.Context.Language == language).OrderBy(e => e.CreatedAt)
            .Select(e => new CodeContextResponse(e.Id, e.Context.Language, null)).ToArray();
        return TypedResults.Json(items, CodeWireJson.Default.CodeContextResponseArray);
    }

    private static IResult Get(string id, CodeService code) =>
        code.TryGet(id, out var entry) ? Json(new CodeContextResponse(entry.Id, entry.Context.Language, null)) : NotFound(id, "");

    private static async Task<IResult> DeleteAsync(string id, CodeService code, ILogger<CodeService> logger)
    {
        if (!await code.DeleteAsync(id))
        {
            logger.LogInformation("Rejected DELETE /code/contexts/{Id}: no such context", id);
            return NotFound(id, "");
        }
        return EmptyBody.Ok();
    }

    private static async Task<IResult> DeleteByLanguageAsync(HttpContext http, CodeService code)
    {
        var language = http.Request.Query["language"].ToString();
        if (language.Length == 0)
        {
            return ApiError.Of(400, ApiError.MissingQuery, "missing query parameter 'language'");
        }
        foreach (var entry in code.All.Where(e => e.Context.Language == language).ToList())
        {
            await code.DeleteAsync(entry.Id);
        }
        return EmptyBody.Ok();
    }

    private static async Task<IResult> RunAsync(HttpContext http, CodeService code, CommandService commands, CommandRequestValidator requests,
        IOptions<ExecdOptions> options, TimeProvider time, ILogger<CodeService> logger)
    {
        var (request, error) = await ReadAsync(http, CodeWireJson.Default.RunCodeRequest, logger);
        if (error is not null)
        {
            return error;
        }
        if (string.IsNullOrEmpty(request!.Code))
        {
            logger.LogInformation("Rejected POST /code: no code");
            return ApiError.Of(400, ApiError.InvalidRequestBody,
                "invalid request, validation error Key: 'RunCodeRequest.Code' Error:Field validation for 'Code' failed on the 'required' tag");
        }
        if (request.Timeout < 0)
        {
            return ApiError.Of(400, ApiError.InvalidRequestBody,
                "invalid request, validation error Key: 'RunCodeRequest.Timeout' Error:Field validation for 'Timeout' failed on the 'gte' tag");
        }
        TimeSpan? timeout = request.Timeout is > 0 ? TimeSpan.FromMilliseconds(request.Timeout.Value) : null;
        var id = request.Context?.Id;
        var language = request.Context?.Language ?? "";

        CodeContextEntry entry;
        if (!string.IsNullOrEmpty(id))
        {
            // An explicit context wins over the language (upstream ignored the id when the language was empty).
            if (!code.TryGet(id, out entry))
            {
                logger.LogInformation("Rejected POST /code: no context {Id}", id);
                return NotFound(id, "error running codes ");
            }
            if (entry.Context.DeadReason is { } reason)
            {
                logger.LogInformation("Rejected POST /code: context {Id} is dead", id);
                return ApiError.Of(409, ContextDead, $"error running codes context {id} is dead ({reason}); delete it and create a new one");
            }
        }
        else if (language.Length == 0)
        {
            return await RunAsCommandAsync(http, request, commands, requests, options, time, logger);
        }
        else
        {
            try
            {
                entry = await code.GetOrCreateDefaultAsync(language, http.RequestAborted);
            }
            catch (UnknownLanguageException ex)
            {
                return LanguageError(code, logger, language, $"error running codes {ex.Message}");
            }
            catch (CommandStartException ex)
            {
                logger.LogError("POST /code: default {Language} context failed: {Error}", language, ex.Message);
                return ApiError.Of(500, ApiError.RuntimeError, $"error running codes {ex.Message}");
            }
        }

        EventStreamWriter.SetHeaders(http.Response);
        var events = new EventStreamWriter(http.Response.BodyWriter, options.Value.RawFraming, time);
        if (!CodeService.TryClaim(entry))
        {
            logger.LogInformation("POST /code: context {Id} is busy", entry.Id);
            await CodeEventStream.BusyAsync(entry.Id, entry.CurrentRun, events, http.RequestAborted);
            return Results.Empty;
        }
        var live = new LiveCodeOutput();
        var record = code.Run(entry, request.Code, timeout, live);
        logger.LogInformation("Code context {Context}: run {Id} started", entry.Id, record.Id);
        http.Response.Headers[SessionsApi.CommandIdHeader] = record.Id;
        await CodeEventStream.RunAsync(record, live, entry.Id, events, time, http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>No language and no context: the code is a shell command, run by the <c>/command</c> machinery (as upstream).</summary>
    private static async Task<IResult> RunAsCommandAsync(HttpContext http, RunCodeRequest request, CommandService commands, CommandRequestValidator requests,
        IOptions<ExecdOptions> options, TimeProvider time, ILogger logger)
    {
        var (spec, timeout, invalid) = requests.Build(new RunCommandRequest { Command = request.Code, Cwd = request.Context?.Cwd, Timeout = request.Timeout });
        if (invalid is not null)
        {
            logger.LogInformation("Rejected POST /code: {Reason}", invalid);
            return ApiError.Of(400, ApiError.InvalidRequestBody, invalid);
        }
        Execd.Core.Commands.OutputReader? live = null;
        var record = commands.Start(spec!, timeout, r => live = r.Log.Subscribe());
        http.Response.Headers[SessionsApi.CommandIdHeader] = record.Id;
        EventStreamWriter.SetHeaders(http.Response);
        var events = new EventStreamWriter(http.Response.BodyWriter, options.Value.RawFraming, time);
        await CommandEventStream.ForegroundAsync(record, live!, events, time, http.RequestAborted);
        return Results.Empty;
    }

    /// <summary>
    /// <c>DELETE /code?id=</c>: a context id interrupts its kernel (control channel, then SIGINT); as upstream, a
    /// command id stops that command and a session id deletes that session.
    /// </summary>
    private static async Task<IResult> InterruptAsync(HttpContext http, CodeService code, CommandService commands, SessionService sessions,
        ILogger<CodeService> logger)
    {
        var id = http.Request.Query["id"].ToString();
        if (id.Length == 0)
        {
            return ApiError.Of(400, ApiError.MissingQuery, "missing query parameter 'id'");
        }
        if (code.TryGet(id, out var entry))
        {
            await code.InterruptAsync(entry, http.RequestAborted);
            return EmptyBody.Ok();
        }
        if (commands.TryGet(id, out var record))
        {
            logger.LogInformation("DELETE /code: interrupting command {Id}", id);
            record.Stop("interrupt");
            await Task.WhenAny(record.Finished, Task.Delay(TimeSpan.FromSeconds(5), http.RequestAborted));
            return EmptyBody.Ok();
        }
        if (await sessions.DeleteAsync(id, "deleted by DELETE /code"))
        {
            return EmptyBody.Ok();
        }
        logger.LogInformation("Rejected DELETE /code: no context, command or session {Id}", id);
        return ApiError.Of(404, ApiError.ContextNotFound, $"error interrupting code context. no such context, command or session: {id}");
    }

    private static IResult Admin(CodeService code) => TypedResults.Json(
        code.All.OrderBy(e => e.CreatedAt).Select(e => new CodeContextInfo(e.Id, e.Context.Language, e.Context.Kernel, e.Executor, e.Context.ProcessId,
            e.State.ToString().ToLowerInvariant(), e.Context.DeadReason, e.Cwd, CommandsApi.Rfc3339(e.CreatedAt), CommandsApi.Rfc3339(e.LastUsedAt),
            e.CurrentRun)).ToArray(),
        CodeWireJson.Default.CodeContextInfoArray);

    private static IResult Languages(CodeService code) => TypedResults.Json(
        code.Languages().Select(l => new CodeLanguageInfo(l.Language.Language, l.Language.Kernel, l.Language.Source, l.Executor.Name)).ToArray(),
        CodeWireJson.Default.CodeLanguageInfoArray);

    private static IResult NotFound(string id, string prefix) =>
        ApiError.Of(404, ApiError.ContextNotFound, $"{prefix}context {id} not found");

    private static IResult Json(CodeContextResponse response) =>
        TypedResults.Json(response, CodeWireJson.Default.CodeContextResponse, contentType: "application/json; charset=utf-8");
}

/// <summary>Body of <c>POST /code/context</c>.</summary>
public sealed class CodeContextRequest
{
    public string? Language { get; set; }
    public string? Cwd { get; set; }
}

/// <summary>A context on the wire; <c>language</c> is always present (the C# SDK requires it).</summary>
public sealed record CodeContextResponse(
    string Id,
    string Language,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Cwd);

/// <summary>The <c>context</c> of a <c>POST /code</c> body.</summary>
public sealed class RunCodeContext
{
    public string? Id { get; set; }
    public string? Language { get; set; }
    public string? Cwd { get; set; }
}

/// <summary>Body of <c>POST /code</c>; <c>timeout</c> (ms) is an extension.</summary>
public sealed class RunCodeRequest
{
    public RunCodeContext? Context { get; set; }
    public string? Code { get; set; }
    public long? Timeout { get; set; }
}

/// <summary>One entry of <c>GET /admin/code</c>.</summary>
public sealed record CodeContextInfo(string Id, string Language, string Kernel, string Executor, int? Pid, string State, string? DeadReason,
    string? Cwd, string CreatedAt, string LastUsedAt, string? RunningCommand);

/// <summary>One entry of <c>GET /admin/code/languages</c>.</summary>
public sealed record CodeLanguageInfo(string Language, string Kernel, string Source, string Executor);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    PropertyNameCaseInsensitive = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(CodeContextRequest))]
[JsonSerializable(typeof(CodeContextResponse))]
[JsonSerializable(typeof(CodeContextResponse[]))]
[JsonSerializable(typeof(RunCodeRequest))]
[JsonSerializable(typeof(CodeContextInfo[]))]
[JsonSerializable(typeof(CodeLanguageInfo[]))]
public sealed partial class CodeWireJson : JsonSerializerContext;

using System.Text.Json;
using System.Text.Json.Serialization;

namespace Execd.Server.Api;

/// <summary>Body of <c>POST /command</c>. Field names match case-insensitively, unknown fields are ignored (as Go's decoder).</summary>
public sealed class RunCommandRequest
{
    public string? Command { get; set; }
    public string? Cwd { get; set; }
    public bool Background { get; set; }
    public long? Timeout { get; set; }
    public uint? Uid { get; set; }
    public uint? Gid { get; set; }
    public Dictionary<string, string>? Envs { get; set; }

    /// <summary>Extension: which executor runs the command (default <c>shell</c>).</summary>
    public string? Executor { get; set; }

    /// <summary>Extension: keep the child's stdin open for <c>POST /command/{id}/stdin</c> (default: <c>/dev/null</c>).</summary>
    public bool Stdin { get; set; }
}

public sealed record ErrorBody(string Code, string Message);

/// <summary>The 401 body: upstream's <c>error</c> field plus the usual code and message.</summary>
public sealed record UnauthorizedBody(string Code, string Message, string Error);

public sealed class CommandStatusResponse
{
    public required string Id { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? Content { get; init; }
    public bool Running { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ExitCode { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? Error { get; init; }
    public required string StartedAt { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? FinishedAt { get; init; }

    // Extensions (clients that do not know them ignore them).
    public string? Executor { get; init; }
    public bool Background { get; init; }
    public long OutputBytes { get; init; }
    public string? OutputProvider { get; init; }
    public IReadOnlyList<string> OutputProviders { get; init; } = [];
    public bool OutputMoved { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long OutputUnstoredBytes { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public long OutputDroppedBytes { get; init; }

    /// <summary>Processes signalled when the command was stopped (timeout or interrupt), escaped ones included.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int KilledProcesses { get; init; }
}

public sealed record MetricsResponse(int CpuCount, double CpuUsedPct, double MemTotalMib, double MemUsedMib, long Timestamp);

public sealed record PluginResponse(string Name, string? Version, string Path, string Status, string? Reason, IReadOnlyList<string> Contributes, string? ContractVersion,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Languages = null);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    PropertyNameCaseInsensitive = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowTrailingCommas = false)]
[JsonSerializable(typeof(RunCommandRequest))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(UnauthorizedBody))]
[JsonSerializable(typeof(CommandStatusResponse))]
[JsonSerializable(typeof(MetricsResponse))]
[JsonSerializable(typeof(PluginResponse[]))]
[JsonSerializable(typeof(Dictionary<string, string>))]
public sealed partial class WireJson : JsonSerializerContext;

/// <summary>Upstream's error codes and the one way this daemon answers with an error.</summary>
public static class ApiError
{
    public const string InvalidRequestBody = "INVALID_REQUEST_BODY";
    public const string MissingQuery = "MISSING_QUERY";
    public const string RuntimeError = "RUNTIME_ERROR";
    public const string ContextNotFound = "CONTEXT_NOT_FOUND";
    public const string NotFound = "NOT_FOUND";
    public const string ExecutorUnavailable = "EXECUTOR_UNAVAILABLE";

    public static IResult Of(int status, string code, string message) =>
        TypedResults.Json(new ErrorBody(code, message), WireJson.Default.ErrorBody, contentType: "application/json; charset=utf-8", statusCode: status);

    public static Task WriteAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsJsonAsync(new ErrorBody(code, message), WireJson.Default.ErrorBody, "application/json; charset=utf-8");
    }

    /// <summary>A 200 with an empty body and <c>Content-Length: 0</c> (the JS SDK parses JSON otherwise).</summary>
    public static IResult EmptyOk() => new EmptyOkResult();

    private sealed class EmptyOkResult : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = 200;
            httpContext.Response.ContentLength = 0;
            return Task.CompletedTask;
        }
    }
}

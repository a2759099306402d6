using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Execd.Core.Http;

/// <summary>The body of every error answer: <c>{"code","message"}</c>.</summary>
public sealed record ErrorBody(string Code, string Message);

/// <summary>Upstream's error codes and the one way this daemon (every endpoint project) answers with an error.</summary>
public static class ApiError
{
    public const string InvalidRequestBody = "INVALID_REQUEST_BODY";
    public const string MissingQuery = "MISSING_QUERY";
    public const string RuntimeError = "RUNTIME_ERROR";
    public const string ContextNotFound = "CONTEXT_NOT_FOUND";
    public const string NotFound = "NOT_FOUND";
    public const string InvalidCursor = "INVALID_CURSOR";
    public const string OutputGone = "OUTPUT_GONE";
    public const string ExecutorUnavailable = "EXECUTOR_UNAVAILABLE";

    private const string ContentType = "application/json; charset=utf-8";

    public static IResult Of(int status, string code, string message) =>
        TypedResults.Json(new ErrorBody(code, message), ErrorJson.Default.ErrorBody, contentType: ContentType, statusCode: status);

    /// <summary>Writes the error straight to the response (middleware, status-code pages, exception handler).</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        return context.Response.WriteAsJsonAsync(new ErrorBody(code, message), ErrorJson.Default.ErrorBody, ContentType);
    }
}

/// <summary>Success answers without a body.</summary>
public static class EmptyBody
{
    /// <summary>A 200 with an empty body and <c>Content-Length: 0</c> (the JS SDK parses JSON otherwise).</summary>
    public static IResult Ok() => OkResult.Instance;

    private sealed class OkResult : IResult
    {
        public static readonly OkResult Instance = new();

        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = 200;
            httpContext.Response.ContentLength = 0;
            return Task.CompletedTask;
        }
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ErrorBody))]
internal sealed partial class ErrorJson : JsonSerializerContext;

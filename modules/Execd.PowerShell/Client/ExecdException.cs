using System.Management.Automation;
using System.Net;

namespace Execd.PowerShell.Client;

/// <summary>
/// A failure talking to execd, with a stable error id and category derived from the HTTP status and the
/// server's <c>code</c>. <see cref="Terminating"/> failures (daemon unreachable, token rejected) stop the
/// whole pipeline: no later input could succeed either.
/// </summary>
public sealed class ExecdException : Exception
{
    public ExecdException(string errorId, ErrorCategory category, string message, bool terminating = false, int? status = null, string? code = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Category = category;
        Terminating = terminating;
        StatusCode = status;
        ServerCode = code;
    }

    public string ErrorId { get; }
    public ErrorCategory Category { get; }
    public bool Terminating { get; }
    public int? StatusCode { get; }
    public string? ServerCode { get; }

    public ErrorRecord ToErrorRecord(object? target) => new(this, ErrorId, Category, target);

    /// <summary>The daemon could not be reached at all.</summary>
    internal static ExecdException Unreachable(Uri uri, Exception inner) => new("ExecdUnreachable", ErrorCategory.ConnectionError,
        $"Cannot reach execd at {uri}: {inner.Message}. Is the daemon running? Pass -Uri, run Connect-Execd, or set EXECD_URI.",
        terminating: true, inner: inner);

    /// <summary>Maps an error answer (<c>{"code","message"}</c>) to an id and category.</summary>
    internal static ExecdException FromResponse(Uri uri, HttpStatusCode status, string? code, string? message)
    {
        var s = (int)status;
        var text = string.IsNullOrEmpty(message) ? $"HTTP {s}" : message;
        if (s == 401 || s == 403)
        {
            return new ExecdException("ExecdUnauthorized", ErrorCategory.AuthenticationError,
                $"execd at {uri} rejected the access token ({s} {code}). Pass -AccessToken, run Connect-Execd -AccessToken, or set EXECD_ACCESS_TOKEN.",
                terminating: true, status: s, code: code);
        }
        var (id, category) = (s, code) switch
        {
            (_, "CONTEXT_NOT_FOUND") => ("ExecdSessionNotFound", ErrorCategory.ObjectNotFound),
            (_, "FILE_NOT_FOUND") => ("ExecdItemNotFound", ErrorCategory.ObjectNotFound),
            (416, _) => ("ExecdRangeNotSatisfiable", ErrorCategory.InvalidArgument),
            (_, "INVALID_FILE" or "INVALID_FILE_METADATA" or "INVALID_FILE_CONTENT") => ("ExecdInvalidFile", ErrorCategory.InvalidArgument),
            (404, _) => ("ExecdNotFound", ErrorCategory.ObjectNotFound),
            (409, _) => ("ExecdNotRunning", ErrorCategory.InvalidOperation),
            (_, "MISSING_QUERY") => ("ExecdMissingQuery", ErrorCategory.InvalidArgument),
            (_, "INVALID_REQUEST_BODY") => ("ExecdInvalidRequest", ErrorCategory.InvalidArgument),
            (_, "RUNTIME_ERROR") => ("ExecdRuntimeError", ErrorCategory.InvalidOperation),
            ( >= 500, _) => ("ExecdServerError", ErrorCategory.InvalidResult),
            _ => ("ExecdRequestFailed", ErrorCategory.NotSpecified),
        };
        return new ExecdException(id, category, $"{text} ({s} {code})", status: s, code: code);
    }
}

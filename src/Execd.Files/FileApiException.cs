using Execd.Core.Http;

namespace Execd.Files;

/// <summary>Bad input or a file-system failure with the status and upstream error code the client gets.</summary>
internal sealed class FileApiException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;

    // Upstream's codes for the filesystem endpoints (pkg/web/model/error.go); the shared ones are ApiError's.
    public const string FileNotFound = "FILE_NOT_FOUND";
    public const string InvalidRequestBody = ApiError.InvalidRequestBody;
    public const string MissingQuery = ApiError.MissingQuery;
    public const string InvalidFile = "INVALID_FILE";
    public const string InvalidFileContent = "INVALID_FILE_CONTENT";
    public const string InvalidFileMetadata = "INVALID_FILE_METADATA";
    public const string RuntimeError = ApiError.RuntimeError;
    public const string RangeNotSatisfiable = "RANGE_NOT_SATISFIABLE";

    public static FileApiException BadRequest(string message, string code = InvalidRequestBody) => new(400, code, message);

    public static FileApiException NotFound(string path) => new(404, FileNotFound, $"file not found: {path}");
}

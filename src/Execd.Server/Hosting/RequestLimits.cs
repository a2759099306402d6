namespace Execd.Server.Hosting;

/// <summary>
/// The request-line and header limits, enforced here (in JSON, like every other error) rather than by Kestrel,
/// whose own 414/431 answers have empty bodies. Kestrel's limits are set above these
/// (<see cref="KestrelLineBytes"/>, <see cref="KestrelHeaderBytes"/>) as the hard stop.
/// </summary>
public sealed class RequestLimits(RequestDelegate next)
{
    /// <summary>Longest path plus query string (Kestrel's default request-line limit).</summary>
    public const int MaxTargetBytes = 8 * 1024;

    /// <summary>Most header bytes, names and values together (Kestrel's default).</summary>
    public const int MaxHeaderBytes = 32 * 1024;

    public const int KestrelLineBytes = 256 * 1024;
    public const int KestrelHeaderBytes = 256 * 1024;

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var target = request.Path.Value?.Length + request.QueryString.Value?.Length ?? 0;
        if (target > MaxTargetBytes)
        {
            return ApiError.WriteAsync(context, 414, ApiError.InvalidRequestBody,
                $"request target is {target} bytes; at most {MaxTargetBytes} are accepted");
        }
        var headers = 0;
        foreach (var (name, values) in request.Headers)
        {
            headers += name.Length;
            foreach (var value in values)
            {
                headers += value?.Length ?? 0;
            }
        }
        if (headers > MaxHeaderBytes)
        {
            return ApiError.WriteAsync(context, 431, ApiError.InvalidRequestBody,
                $"request headers are {headers} bytes; at most {MaxHeaderBytes} are accepted");
        }
        return next(context);
    }
}

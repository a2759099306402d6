using System.Security.Cryptography;
using System.Text;
using Execd.Server.Api;

namespace Execd.Server.Hosting;

/// <summary>
/// When a token is configured, every request (ping included, as upstream) must carry it in
/// <c>X-EXECD-ACCESS-TOKEN</c>. Compared in constant time; the token is never logged.
/// </summary>
public sealed class AccessTokenMiddleware(RequestDelegate next, string token, ILogger<AccessTokenMiddleware> logger)
{
    public const string Header = "X-EXECD-ACCESS-TOKEN";
    private const string Message = "Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN";
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public Task InvokeAsync(HttpContext context)
    {
        var given = context.Request.Headers[Header].ToString();
        // Hashing both sides first makes the comparison constant-time regardless of length.
        if (given.Length > 0 && CryptographicOperations.FixedTimeEquals(_expected, SHA256.HashData(Encoding.UTF8.GetBytes(given))))
        {
            return next(context);
        }
        logger.LogWarning("Rejected {Method} {Path}: missing or wrong access token", context.Request.Method, context.Request.Path);
        context.Response.StatusCode = 401;
        return context.Response.WriteAsJsonAsync(new UnauthorizedBody("UNAUTHORIZED", Message, Message), WireJson.Default.UnauthorizedBody,
            "application/json; charset=utf-8");
    }
}

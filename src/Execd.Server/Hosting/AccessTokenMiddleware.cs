using System.Security.Cryptography;
using System.Text;
using Execd.Server.Api;

namespace Execd.Server.Hosting;

/// <summary>
/// When a token is configured, every request (ping included, as upstream) must carry it in
/// <c>X-EXECD-ACCESS-TOKEN</c>. Compared in constant time; the token is never logged. Rejections are logged at
/// debug; at most one warning per <see cref="WarningInterval"/> counts them, so unauthenticated clients cannot flood the log.
/// </summary>
public sealed class AccessTokenMiddleware(RequestDelegate next, string token, ILogger<AccessTokenMiddleware> logger, TimeProvider time)
{
    public const string Header = "X-EXECD-ACCESS-TOKEN";
    public static readonly TimeSpan WarningInterval = TimeSpan.FromMinutes(1);
    private const string Message = "Unauthorized: invalid or missing header X-EXECD-ACCESS-TOKEN";
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
    private long _rejectedSinceWarning;
    private long _nextWarningTicks;

    public Task InvokeAsync(HttpContext context)
    {
        var given = context.Request.Headers[Header].ToString();
        // Hashing both sides first makes the comparison constant-time regardless of length.
        if (given.Length > 0 && CryptographicOperations.FixedTimeEquals(_expected, SHA256.HashData(Encoding.UTF8.GetBytes(given))))
        {
            return next(context);
        }
        LogRejection(context);
        context.Response.StatusCode = 401;
        return context.Response.WriteAsJsonAsync(new UnauthorizedBody("UNAUTHORIZED", Message, Message), WireJson.Default.UnauthorizedBody,
            "application/json; charset=utf-8");
    }

    private void LogRejection(HttpContext context)
    {
        logger.LogDebug("Rejected {Method} {Path}: missing or wrong access token", context.Request.Method, context.Request.Path);
        var rejected = Interlocked.Increment(ref _rejectedSinceWarning);
        var now = time.GetUtcNow().UtcTicks;
        var next = Interlocked.Read(ref _nextWarningTicks);
        if (now >= next && Interlocked.CompareExchange(ref _nextWarningTicks, now + WarningInterval.Ticks, next) == next)
        {
            rejected = Interlocked.Exchange(ref _rejectedSinceWarning, 0);
            logger.LogWarning("Rejected {Count} request(s) without a valid access token (latest: {Method} {Path} from {Remote}); " +
                "further rejections are counted for {Interval} s", rejected, context.Request.Method, context.Request.Path,
                context.Connection.RemoteIpAddress, (int)WarningInterval.TotalSeconds);
        }
    }
}

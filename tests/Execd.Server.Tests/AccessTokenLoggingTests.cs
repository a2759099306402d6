using Execd.Server.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Execd.Server.Tests;

/// <summary>Issue 11, finding 12: unauthenticated clients cannot flood the log (one class, with a recording logger and clock).</summary>
public sealed class AccessTokenLoggingTests
{
    [Fact]
    public async Task ManyRejections_WriteOneWarningPerInterval_WithTheCount()
    {
        var logger = new RecordingLogger();
        var clock = new ManualClock();
        var middleware = new AccessTokenMiddleware(_ => Task.CompletedTask, "right", logger, clock);

        for (var i = 0; i < 500; i++)
        {
            await middleware.InvokeAsync(Request("wrong"));
        }
        var warningsInTheFirstMinute = logger.Warnings.Count;
        clock.Advance(AccessTokenMiddleware.WarningInterval + TimeSpan.FromSeconds(1));
        var last = Request(null);
        await middleware.InvokeAsync(last);

        Assert.Equal(1, warningsInTheFirstMinute);
        Assert.Equal(2, logger.Warnings.Count);
        Assert.Contains("Rejected 500 request", logger.Warnings[1]);
        Assert.Equal(501, logger.Debugs);
        Assert.Equal(401, last.Response.StatusCode);
    }

    [Fact]
    public async Task RightToken_PassesAndLogsNothing()
    {
        var logger = new RecordingLogger();
        var passed = false;
        var middleware = new AccessTokenMiddleware(_ => { passed = true; return Task.CompletedTask; }, "right", logger, new ManualClock());

        await middleware.InvokeAsync(Request("right"));

        Assert.True(passed);
        Assert.Empty(logger.Warnings);
        Assert.Equal(0, logger.Debugs);
    }

    private static DefaultHttpContext Request(string? token)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/ping";
        context.Response.Body = new MemoryStream();
        if (token is not null)
        {
            context.Request.Headers[AccessTokenMiddleware.Header] = token;
        }
        return context;
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public void Advance(TimeSpan by) => _now += by;

        public override DateTimeOffset GetUtcNow() => _now;
    }

    private sealed class RecordingLogger : ILogger<AccessTokenMiddleware>
    {
        public List<string> Warnings { get; } = [];
        public int Debugs { get; private set; }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning)
            {
                Warnings.Add(formatter(state, exception));
            }
            else if (logLevel == LogLevel.Debug)
            {
                Debugs++;
            }
        }
    }
}

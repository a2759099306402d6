using System.Buffers;
using System.Text.Json;
using System.Text.RegularExpressions;
using Execd.Core.Commands;
using Execd.Server.Hosting;
using Execd.Server.Streaming;
using Microsoft.Extensions.Options;

namespace Execd.Server.Api;

/// <summary><c>/command</c>: run (foreground stream or background), status, logs by byte cursor, interrupt.</summary>
public static partial class CommandsApi
{
    public const string TailCursorHeader = "EXECD-COMMANDS-TAIL-CURSOR";

    [GeneratedRegex("^[A-Za-z0-9_-]{1,128}$")]
    private static partial Regex IdPattern();

    /// <summary>
    /// The one lookup of a command id for status, logs and interrupt: a malformed id (path characters) is 400, an
    /// unknown one 404; null when found.
    /// </summary>
    internal static IResult? Find(string id, CommandService commands, string notFound, out CommandRecord record)
    {
        record = null!;
        if (!IdPattern().IsMatch(id))
        {
            return ApiError.Of(400, ApiError.InvalidRequestBody, "invalid command id");
        }
        return commands.TryGet(id, out record) ? null : ApiError.Of(404, ApiError.InvalidRequestBody, notFound);
    }

    public static IEndpointRouteBuilder MapCommands(this IEndpointRouteBuilder app)
    {
        app.MapPost("/command", RunAsync);
        app.MapDelete("/command", InterruptAsync);
        app.MapGet("/command/status/{id}", Status);
        app.MapGet("/command/{id}/logs", LogsAsync);
        return app;
    }

    internal static async Task<(RunCommandRequest? Request, IResult? Error)> ReadRequestAsync(HttpContext http, ILogger logger)
    {
        try
        {
            var request = await JsonSerializer.DeserializeAsync(http.Request.Body, WireJson.Default.RunCommandRequest, http.RequestAborted);
            return (request ?? new RunCommandRequest(), null);
        }
        catch (JsonException ex)
        {
            var reason = ex.Message.Contains("does not contain any JSON tokens", StringComparison.Ordinal) ? "EOF" : ex.Message;
            logger.LogInformation("Rejected POST /command: invalid body ({Reason})", reason);
            return (null, ApiError.Of(400, ApiError.InvalidRequestBody, $"error parsing request, MAYBE invalid body format. {reason}"));
        }
    }

    private static async Task<IResult> RunAsync(HttpContext http, CommandService commands, CommandRequestValidator requests,
        IOptions<ExecdOptions> options, TimeProvider time, ILogger<CommandService> logger)
    {
        var (request, error) = await ReadRequestAsync(http, logger);
        if (error is not null)
        {
            return error;
        }
        var (spec, timeout, invalid) = requests.Build(request!);
        if (invalid is not null)
        {
            logger.LogInformation("Rejected POST /command: {Reason}", invalid);
            return ApiError.Of(400, ApiError.InvalidRequestBody, invalid);
        }
        if (!commands.TryGetExecutor(spec!.Executor, out _))
        {
            var message = $"invalid request, unknown executor '{spec.Executor}'; available: {string.Join(", ", commands.ExecutorNames.Order())}";
            logger.LogInformation("Rejected POST /command: {Reason}", message);
            return ApiError.Of(400, ApiError.InvalidRequestBody, message);
        }
        // An on-demand plugin (the PowerShell executor) is activated by its first command; if that fails, the client
        // hears why before any event is sent.
        if (await commands.ActivateExecutorAsync(spec.Executor) is { } unavailable)
        {
            logger.LogWarning("Rejected POST /command: executor {Executor} is unavailable: {Reason}", spec.Executor, unavailable);
            return ApiError.Of(503, ApiError.ExecutorUnavailable, $"executor '{spec.Executor}' is unavailable: {unavailable}");
        }

        OutputReader? live = null;
        var record = commands.Start(spec, timeout, r =>
        {
            if (!spec.Background)
            {
                live = r.Log.Subscribe();
            }
        });
        logger.LogInformation("Command {Id} started ({Mode}, executor {Executor})", record.Id, spec.Background ? "background" : "foreground", spec.Executor);

        EventStreamWriter.SetHeaders(http.Response);
        var events = EventStreamWriter.For(http, options.Value.RawFraming, time);
        var aborted = http.RequestAborted;
        if (spec.Background)
        {
            await CommandEventStream.BackgroundAsync(record, events, aborted);
        }
        else
        {
            await CommandEventStream.ForegroundAsync(record, live!, events, time, aborted);
        }
        return Results.Empty;
    }

    private static async Task<IResult> InterruptAsync(HttpContext http, CommandService commands, ILogger<CommandService> logger)
    {
        var id = http.Request.Query["id"].ToString();
        if (string.IsNullOrEmpty(id))
        {
            return ApiError.Of(400, ApiError.MissingQuery, "missing query parameter 'id'");
        }
        if (Find(id, commands, $"error interruptting code context. no such command: {id}", out var record) is { } error)
        {
            return error;
        }
        if (!record.Running)
        {
            return ApiError.Of(409, ApiError.RuntimeError, $"error interruptting code context. command session {id} is not running");
        }
        logger.LogInformation("Interrupting command {Id}", id);
        record.Stop("interrupt");
        // Like upstream, answer once the process group is gone (TERM, then KILL after the grace period).
        await Task.WhenAny(record.Finished, Task.Delay(TimeSpan.FromSeconds(5), http.RequestAborted));
        return EmptyBody.Ok();
    }

    private static IResult Status(string id, CommandService commands)
    {
        if (Find(id, commands, $"command not found: {id}", out var r) is { } error)
        {
            return error;
        }
        var exit = r.Exit;
        var providers = r.Log.ProviderHistory;
        return TypedResults.Json(new CommandStatusResponse
        {
            Id = id,
            Content = r.Spec.Command,
            Running = exit is null,
            ExitCode = exit?.ExitCode,
            Error = exit?.Error,
            StartedAt = Rfc3339(r.StartedAt),
            FinishedAt = r.FinishedAt is { } f ? Rfc3339(f) : null,
            State = r.State.ToString().ToLowerInvariant(),
            Executor = r.Spec.Executor,
            Background = r.Spec.Background,
            OutputBytes = r.Log.Length,
            OutputProvider = r.Log.Provider,
            OutputProviders = providers,
            OutputMoved = providers.Count > 1,
            OutputUnstoredBytes = r.Log.UnstoredBytes,
            OutputDroppedBytes = r.Log.DroppedBytes,
            KilledProcesses = r.Exit?.KilledProcesses ?? 0,
        }, WireJson.Default.CommandStatusResponse, contentType: "application/json; charset=utf-8");
    }

    private static async Task<IResult> LogsAsync(string id, HttpContext http, CommandService commands)
    {
        if (Find(id, commands, $"command not found: {id}", out var record) is { } error)
        {
            return error;
        }
        // An absent (or empty) cursor means 0; a non-numeric or negative one is an error (as upstream now).
        var cursorText = http.Request.Query["cursor"].ToString();
        long cursor = 0;
        if (cursorText.Length > 0 && !long.TryParse(cursorText, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out cursor))
        {
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"invalid cursor '{cursorText}': must be a non-negative integer");
        }
        if (cursor < 0)
        {
            return ApiError.Of(400, ApiError.InvalidRequestBody, $"error seek file: invalid cursor {cursor}");
        }
        var log = record.Log;
        var end = log.Length;
        var start = Math.Max(cursor, log.FirstReadableOffset);
        var response = http.Response;
        response.StatusCode = 200;
        response.ContentType = "text/plain; charset=utf-8";
        if (start >= end)
        {
            response.Headers[TailCursorHeader] = Math.Max(cursor, end).ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.ContentLength = 0;
            return Results.Empty;
        }
        response.Headers[TailCursorHeader] = end.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.ContentLength = end - start;
        // Streamed in blocks: the whole remainder is never held in memory.
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var position = start;
            while (position < end)
            {
                var want = (int)Math.Min(buffer.Length, end - position);
                var n = log.Read(position, buffer.AsSpan(0, want), out var readFrom);
                if (n == 0 || readFrom != position)
                {
                    // Storage lost bytes under us; pad so Content-Length stays honest.
                    n = want;
                    buffer.AsSpan(0, n).Clear();
                }
                await response.Body.WriteAsync(buffer.AsMemory(0, n), http.RequestAborted);
                position += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Results.Empty;
    }

    internal static string Rfc3339(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}

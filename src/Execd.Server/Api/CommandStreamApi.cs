using System.Globalization;
using Execd.Core.Commands;
using Execd.Server.Streaming;
using Microsoft.Extensions.Primitives;

namespace Execd.Server.Api;

/// <summary>
/// <c>GET /command/{id}/stream</c>: the resumable event stream of any command (background, foreground, session run, and
/// finished commands re-indexed after a restart). The same events as <c>POST /command</c>; each output line carries an SSE
/// <c>id:</c> (the absolute offset just past it). <c>?cursor=N</c> or a <c>Last-Event-ID</c> header resumes right after
/// that offset: what is stored is replayed, then the stream follows live until the final event.
/// </summary>
public static class CommandStreamApi
{
    public const string LastEventIdHeader = "Last-Event-ID";

    public static IEndpointRouteBuilder MapCommandStream(this IEndpointRouteBuilder app)
    {
        app.MapGet("/command/{id}/stream", StreamAsync);
        return app;
    }

    private static async Task<IResult> StreamAsync(string id, HttpContext http, CommandService commands, TimeProvider time, ILogger<CommandService> logger)
    {
        if (CommandsApi.Find(id, commands, $"command not found: {id}", out var record) is { } notFound)
        {
            return notFound;
        }
        var (cursor, invalid) = ParseCursor(http.Request.Query["cursor"], http.Request.Headers[LastEventIdHeader]);
        if (invalid is null)
        {
            invalid = Check(record.Log, cursor);
        }
        if (invalid is { } error)
        {
            logger.LogInformation("Rejected GET /command/{Id}/stream: {Reason}", id, error.Message);
            return ApiError.Of(error.Status, error.Status == 410 ? ApiError.OutputGone : ApiError.InvalidCursor, error.Message);
        }
        // Subscribed before the first byte is sent: from here on nothing written is missed.
        var reader = record.Log.Subscribe(cursor);
        EventStreamWriter.SetHeaders(http.Response);
        // Always standard SSE framing: ids need it, and no upstream client knows this route.
        var events = EventStreamWriter.For(http, raw: false, time);
        await CommandEventStream.ResumableAsync(record, reader, events, time, http.RequestAborted);
        return Results.Empty;
    }

    internal readonly record struct CursorError(int Status, string Message);

    /// <summary>The cursor from <c>?cursor=</c> or <c>Last-Event-ID</c> (0 when neither); both at once, or one that is not a non-negative integer, is an error.</summary>
    internal static (long Cursor, CursorError? Error) ParseCursor(StringValues query, StringValues header)
    {
        var hasQuery = !StringValues.IsNullOrEmpty(query);
        var hasHeader = !StringValues.IsNullOrEmpty(header);
        if (hasQuery && hasHeader)
        {
            return (0, new CursorError(400, "give either the cursor parameter or the Last-Event-ID header, not both"));
        }
        if (!hasQuery && !hasHeader)
        {
            return (0, null);
        }
        var (text, name) = hasQuery ? (query.ToString(), "cursor") : (header.ToString(), LastEventIdHeader);
        if (query.Count > 1 || header.Count > 1)
        {
            return (0, new CursorError(400, $"{name} is given more than once"));
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var cursor))
        {
            return (0, new CursorError(400, $"{name} must be a non-negative integer (an output offset), not '{text}'"));
        }
        return (cursor, null);
    }

    /// <summary>A cursor past the end, inside bytes the log no longer holds, or on deleted output, cannot be resumed.</summary>
    internal static CursorError? Check(OutputLog log, long cursor)
    {
        var length = log.Length;
        if (cursor > length)
        {
            return new CursorError(400, $"cursor {cursor} is past the end of the output ({length} bytes)");
        }
        if (log.IsDeleted && length > 0)
        {
            return new CursorError(410, "the output of this command was deleted by retention; status still answers");
        }
        // Inside a range the log does not hold (dropped by the per-command cap, or never stored): the bytes right
        // before and at the cursor are both gone, so resuming there would silently skip output the client never saw.
        if (cursor > 0 && cursor < length && log.NextHeldOffset(cursor - 1) != cursor - 1)
        {
            return new CursorError(410, $"cursor {cursor} is inside output that was not kept (dropped or unstored); resume from {log.NextHeldOffset(cursor)}");
        }
        return null;
    }
}

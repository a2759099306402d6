using System.Text.Json;
using System.Text.Json.Nodes;

namespace Execd.PowerShell.Client;

/// <summary>One event of a command stream (<c>init</c>, <c>stdout</c>, <c>stderr</c>, <c>execution_complete</c>, <c>error</c>, <c>ping</c>).</summary>
/// <summary><paramref name="Raw"/> is the whole event, for the fields only some streams have (code results, error names).</summary>
internal sealed record ExecdEvent(string Type, string? Text, long? Timestamp, long? ExecutionTimeMs, string? ErrorValue, string? Traceback, JsonObject? Raw = null)
{
    /// <summary>The SSE <c>id:</c> sent with the event (the resumable stream's output offset), if any.</summary>
    public long? EventId { get; init; }
}

/// <summary>
/// Reads a command event stream the way the SDKs do: line by line, blank lines and SSE comments skipped,
/// an optional <c>data:</c> prefix stripped, so both the standard and upstream's bare framing work.
/// </summary>
internal sealed class EventReader(Stream body, IDisposable? owner = null) : IDisposable
{
    private readonly StreamReader _reader = new(body);
    private long? _id;

    public async Task<ExecdEvent?> NextAsync(CancellationToken cancel)
    {
        while (await _reader.ReadLineAsync(cancel).ConfigureAwait(false) is { } raw)
        {
            var line = raw.Trim();
            if (line.StartsWith("id:", StringComparison.Ordinal))
            {
                _id = long.TryParse(line.AsSpan(3).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : null;
                continue;
            }
            if (line.Length == 0 || line[0] == ':' || line.StartsWith("event:", StringComparison.Ordinal))
            {
                continue;
            }
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                line = line[5..].Trim();
            }
            JsonObject? json;
            try
            {
                json = JsonNode.Parse(line) as JsonObject;
            }
            catch (JsonException)
            {
                continue;
            }
            if (json is null || (string?)json["type"] is not { } type)
            {
                continue;
            }
            var error = json["error"] as JsonObject;
            var traceback = error?["traceback"] is JsonArray tb ? string.Join(Environment.NewLine, tb.Select(t => (string?)t)) : null;
            var eventId = _id;
            _id = null;
            return new ExecdEvent(type, (string?)json["text"], (long?)json["timestamp"], (long?)json["execution_time"],
                (string?)error?["evalue"], traceback, json) { EventId = eventId };
        }
        return null;
    }

    public void Dispose()
    {
        _reader.Dispose();
        owner?.Dispose();
    }
}

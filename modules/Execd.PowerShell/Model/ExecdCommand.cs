namespace Execd.PowerShell;

/// <summary>A command as the daemon reports it (<c>Get-ExecdCommand</c>, <c>Invoke-ExecdCommand -Background</c>).</summary>
public sealed class ExecdCommand
{
    public required string Id { get; init; }
    public string? Command { get; init; }
    public bool Running { get; init; }

    /// <summary><c>Running</c>, <c>Succeeded</c> (exit 0) or <c>Failed</c>.</summary>
    public string State => Running ? "Running" : ExitCode == 0 ? "Succeeded" : "Failed";

    public int? ExitCode { get; init; }
    public string? Error { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public TimeSpan? Duration => StartedAt is { } s && FinishedAt is { } f ? f - s : null;
    public string? Executor { get; init; }
    public bool Background { get; init; }
    public long OutputBytes { get; init; }
    public string? OutputProvider { get; init; }
    public bool OutputMoved { get; init; }

    internal static ExecdCommand From(Client.CommandStatusDto d) => new()
    {
        Id = d.Id,
        Command = d.Content,
        Running = d.Running,
        ExitCode = d.ExitCode,
        Error = d.Error,
        StartedAt = d.StartedAt,
        FinishedAt = d.FinishedAt,
        Executor = d.Executor,
        Background = d.Background,
        OutputBytes = d.OutputBytes,
        OutputProvider = d.OutputProvider,
        OutputMoved = d.OutputMoved,
    };
}

/// <summary>How a foreground command ended: the last object <c>Invoke-ExecdCommand</c> writes. The exit code is data, not an error.</summary>
public sealed class ExecdCommandResult
{
    public required string Id { get; init; }
    public int? ExitCode { get; init; }
    public bool Succeeded => ExitCode == 0;

    /// <summary>The daemon's error text (<c>exit status 3</c>, <c>signal: terminated</c>), or null on success.</summary>
    public string? Error { get; init; }

    public TimeSpan? ExecutionTime { get; init; }
    public string? Executor { get; init; }
    public string? SessionId { get; init; }
    public int OutputLines { get; init; }
    public int ErrorLines { get; init; }
}

/// <summary>One read of stored output (<c>Receive-ExecdCommandOutput -Raw</c>): the text and the cursor to read on from.</summary>
public sealed class ExecdOutputChunk
{
    public required string Id { get; init; }
    public long Cursor { get; init; }
    public long NextCursor { get; init; }
    public required string Text { get; init; }
}

namespace Execd.PowerShell;

/// <summary>
/// A command's output as the Redis storage provider left it (<c>Get-ExecdFleetOutput -Raw</c>): the command's record
/// and the bytes of its newest stream, read from Redis without a daemon.
/// </summary>
public sealed class ExecdFleetOutput
{
    public required string SandboxId { get; init; }
    public required string CommandId { get; init; }

    /// <summary><c>completed</c> once the daemon sealed the output in Redis; <c>running</c> while it writes, or when the output moved to another provider.</summary>
    public string? State { get; init; }

    public bool Completed => State == "completed";
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Streams (sinks) the command has in Redis; the text is the newest one's.</summary>
    public int Streams { get; init; }

    /// <summary>Bytes read from the newest stream.</summary>
    public long Length { get; init; }

    /// <summary>Places where entries' offsets did not follow on (entries removed from outside); the missing bytes read as NUL.</summary>
    public long Gaps { get; init; }

    public required string Text { get; init; }
}

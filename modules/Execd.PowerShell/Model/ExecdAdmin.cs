namespace Execd.PowerShell;

/// <summary>An output storage provider in the daemon's ranking (<c>Get-ExecdStorageProvider</c>); rank 1 takes new commands.</summary>
public sealed class ExecdStorageProvider
{
    public int Rank { get; init; }
    public required string Name { get; init; }
    public string? Kind { get; init; }
    public string? Location { get; init; }
    public string? Status { get; init; }
    public string? Reason { get; init; }
    public long? FreeBytes { get; init; }
    public long BytesHeld { get; init; }
    public int CommandsHeld { get; init; }
    public DateTimeOffset? EvaluatedAt { get; init; }
}

/// <summary>A plugin folder the daemon loaded or failed to load (<c>Get-ExecdPlugin</c>).</summary>
public sealed class ExecdPlugin
{
    public required string Name { get; init; }
    public string? Version { get; init; }
    public required string Status { get; init; }
    public string? Reason { get; init; }
    public string[] Contributes { get; init; } = [];
    public string? Path { get; init; }
}

/// <summary>The daemon's health (<c>Get-ExecdHealth</c>): overall status and one entry per check.</summary>
public sealed class ExecdHealthReport
{
    public required string Status { get; init; }
    public TimeSpan TotalDuration { get; init; }
    public ExecdHealthEntry[] Entries { get; init; } = [];
}

/// <summary>One health check's result.</summary>
public sealed class ExecdHealthEntry
{
    public required string Name { get; init; }
    public required string Status { get; init; }
    public string? Description { get; init; }
    public string[] Tags { get; init; } = [];
}

/// <summary>A bash session (<c>New-ExecdSession</c>, <c>Get-ExecdSession</c>).</summary>
public sealed class ExecdSession
{
    public required string Id { get; init; }
    public string? Cwd { get; init; }
    public int? Pid { get; init; }
    public string? State { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
}

/// <summary>What <c>Test-Execd</c> found: reachable, token accepted, and the health summary.</summary>
public sealed class ExecdTestResult
{
    public required Uri Uri { get; init; }
    public bool Reachable { get; init; }
    public bool Authorized { get; init; }
    public TimeSpan? Latency { get; init; }

    /// <summary><c>Healthy</c>, <c>Degraded</c>, <c>Unhealthy</c>, or null when the daemon has no health endpoint or could not be asked.</summary>
    public string? Health { get; init; }

    public string? Message { get; init; }
}

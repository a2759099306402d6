namespace Execd.PowerShell;

/// <summary>A code context: one Jupyter kernel on the daemon (<c>New-ExecdCodeContext</c>, <c>Get-ExecdCodeContext</c>).</summary>
public sealed class ExecdCodeContext
{
    public required string Id { get; init; }
    public required string Language { get; init; }
    public string? Kernel { get; init; }
    public int? Pid { get; init; }

    /// <summary><c>idle</c>, <c>busy</c> or <c>dead</c>.</summary>
    public string? State { get; init; }

    public string? DeadReason { get; init; }
    public string? Cwd { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
}

/// <summary>
/// A rich result of a cell (<c>Invoke-ExecdCode</c>): an expression's value (with its execution count) or a
/// display. <see cref="Data"/> holds every MIME type the kernel sent (<c>text/plain</c> under <c>text/plain</c>).
/// </summary>
public sealed class ExecdCodeResult
{
    public int? ExecutionCount { get; init; }
    public string? Text { get; init; }
    public required IReadOnlyDictionary<string, object?> Data { get; init; }

    /// <summary>The MIME types in <see cref="Data"/>.</summary>
    public string[] MimeTypes => Data.Keys.ToArray();

    /// <summary>Files this result's images were saved to (<c>-OutFile</c>, <c>-OutDirectory</c>).</summary>
    public string[] SavedTo { get; set; } = [];
}

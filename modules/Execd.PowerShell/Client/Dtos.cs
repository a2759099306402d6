namespace Execd.PowerShell.Client;

// Wire shapes (snake_case on the wire). Unknown fields are ignored, missing ones stay default, so the
// cmdlets keep working against a daemon with more or fewer extensions.

internal sealed record CommandStatusDto(string Id, string? Content, bool Running, int? ExitCode, string? Error, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt, string? Executor, bool Background, long OutputBytes, string? OutputProvider, bool OutputMoved);

internal sealed record PluginDto(string Name, string? Version, string? Path, string Status, string? Reason, string[]? Contributes);

internal sealed record StorageReportDto(DateTimeOffset? EvaluatedAt, StorageProviderDto[]? Providers);

internal sealed record StorageProviderDto(int Rank, string Name, string? Kind, string? Location, string? Status, string? Reason,
    long? FreeBytes, long BytesHeld, int CommandsHeld);

internal sealed record HealthReportDto(string Status, double TotalDurationMs, Dictionary<string, HealthEntryDto>? Entries);

internal sealed record HealthEntryDto(string Status, string? Description, string[]? Tags);

internal sealed record SessionCreatedDto(string SessionId);

internal sealed record SessionDto(string Id, string? Cwd, int? Pid, DateTimeOffset? CreatedAt, DateTimeOffset? LastUsedAt, string? State);

internal sealed record CodeContextCreatedDto(string Id, string Language);

internal sealed record CodeContextDto(string Id, string Language, string? Kernel, int? Pid, string? State, string? DeadReason, string? Cwd,
    DateTimeOffset? CreatedAt, DateTimeOffset? LastUsedAt, string? RunningCommand);

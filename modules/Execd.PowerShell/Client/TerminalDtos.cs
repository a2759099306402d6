namespace Execd.PowerShell.Client;

// Wire shapes of /pty and /admin/pty (snake_case). Unknown fields are ignored, missing ones stay default: an
// upstream-like daemon answers only session_id, running and output_offset.

internal sealed record TerminalStatusDto(string SessionId, bool Running, long OutputOffset, int? ExitCode, string? Mode, string? CommandId,
    int? Pid, string? Cwd, string? Command, bool Attached, DateTimeOffset? CreatedAt, DateTimeOffset? LastActivityAt);

internal sealed record TerminalListingDto(string? Executor, int MaxSessions, string? IdleTimeout, TerminalStatusDto[]? Sessions);

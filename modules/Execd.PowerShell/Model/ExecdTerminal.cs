using Execd.PowerShell.Client;

namespace Execd.PowerShell;

/// <summary>An interactive terminal (<c>/pty</c> session) on the daemon.</summary>
public sealed class ExecdTerminal
{
    public required string Id { get; init; }

    /// <summary>Whether its shell runs now (false before the first attach, which starts it, and after it exited).</summary>
    public bool Running { get; init; }

    /// <summary>Bytes of output (scrollback) the terminal has produced: -Since values are offsets into it.</summary>
    public long OutputOffset { get; init; }

    public int? ExitCode { get; init; }

    /// <summary><c>pty</c> or <c>pipe</c> once the shell started.</summary>
    public string? Mode { get; init; }

    /// <summary>Whether a client is attached now.</summary>
    public bool Attached { get; init; }

    public int? Pid { get; init; }
    public string? Cwd { get; init; }
    public string? Command { get; init; }

    /// <summary>The id of the command that records the shell's output (Get-ExecdCommand, Receive-ExecdCommandOutput).</summary>
    public string? CommandId { get; init; }

    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? LastActivityAt { get; init; }

    /// <summary>The state a table shows: new (never attached), running, or exited.</summary>
    public string State => Running ? "running" : ExitCode is not null ? "exited" : Mode is null ? "new" : "stopped";

    internal static ExecdTerminal From(TerminalStatusDto s) => new()
    {
        Id = s.SessionId,
        Running = s.Running,
        OutputOffset = s.OutputOffset,
        ExitCode = s.ExitCode,
        Mode = s.Mode,
        Attached = s.Attached,
        Pid = s.Pid,
        Cwd = s.Cwd,
        Command = s.Command,
        CommandId = s.CommandId,
        CreatedAt = s.CreatedAt,
        LastActivityAt = s.LastActivityAt,
    };
}

using Execd.Core.Commands;

namespace Execd.Core.Terminals;

/// <summary>
/// One terminal: created by <c>POST /pty</c>, its shell started by the first connection. The shell runs as a
/// command in the command registry, so its output is that command's log. A shell that exited stays exited:
/// the terminal keeps its exit and its scrollback until it is deleted (no silent new shell).
/// </summary>
public sealed class TerminalSession
{
    private readonly object _gate = new();
    private long _lastActivityTicks;
    private object? _holder;

    internal TerminalSession(string id, string? directory, string? command, DateTimeOffset createdAt)
    {
        Id = id;
        Directory = directory;
        Command = command;
        CreatedAt = createdAt;
        _lastActivityTicks = createdAt.UtcTicks;
    }

    public string Id { get; }
    public string? Directory { get; }
    public string? Command { get; }
    public DateTimeOffset CreatedAt { get; }
    public DateTimeOffset LastActivityAt => new(Interlocked.Read(ref _lastActivityTicks), TimeSpan.Zero);

    /// <summary>The shell's command (registry entry and output log), once a connection started it.</summary>
    public CommandRecord? Record { get; private set; }

    /// <summary>The shell's output writer (log, stream runs, wake-ups), once started.</summary>
    public TerminalOutput? Output { get; private set; }

    /// <summary>The running (or exited) shell, once it started.</summary>
    public ITerminalProcess? Process { get; private set; }

    public TerminalMode? Mode { get; private set; }

    /// <summary>Whether a shell process is alive.</summary>
    public bool Running => Record is { Running: true } && Process is not null;

    /// <summary>The shell's exit, once it ended (<c>null</c> while running or never started).</summary>
    public CommandExit? Exit => Record?.Exit;

    /// <summary>Total output bytes (the absolute offset just past the newest byte).</summary>
    public long OutputOffset => Record?.Log.Length ?? 0;

    /// <summary>Whether a connection holds the terminal.</summary>
    public bool Attached => Volatile.Read(ref _holder) is not null;

    internal object StartGate => _gate;

    internal void Started(CommandRecord record, TerminalOutput output, TerminalMode mode)
    {
        Record = record;
        Output = output;
        Mode = mode;
    }

    internal void ProcessStarted(ITerminalProcess process) => Process = process;

    internal void ForgetFailedStart()
    {
        Record = null;
        Output = null;
        Process = null;
        Mode = null;
    }

    public void Touch(DateTimeOffset at) => Interlocked.Exchange(ref _lastActivityTicks, at.UtcTicks);

    /// <summary>Takes the terminal for <paramref name="holder"/> if nobody holds it.</summary>
    public bool TryHold(object holder) => Interlocked.CompareExchange(ref _holder, holder, null) is null;

    /// <summary>Takes the terminal for <paramref name="holder"/> whoever holds it; returns the previous holder.</summary>
    public object? TakeOver(object holder) => Interlocked.Exchange(ref _holder, holder);

    /// <summary>Swaps <paramref name="expected"/> for <paramref name="holder"/> if it still holds the terminal.</summary>
    public bool Replace(object expected, object holder) => ReferenceEquals(Interlocked.CompareExchange(ref _holder, holder, expected), expected);

    /// <summary>Whether <paramref name="holder"/> still holds the terminal (it was not taken over).</summary>
    public bool IsHeldBy(object holder) => ReferenceEquals(Volatile.Read(ref _holder), holder);

    /// <summary>Lets go of the terminal if <paramref name="holder"/> still holds it.</summary>
    public void Release(object holder) => Interlocked.CompareExchange(ref _holder, null, holder);
}

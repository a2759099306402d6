namespace Execd;

/// <summary>How a terminal's shell is connected.</summary>
public enum TerminalMode
{
    /// <summary>A pseudo-terminal: the shell is interactive, has a controlling tty and job control; output is one stream.</summary>
    Pty,

    /// <summary>Three pipes: the shell is non-interactive; stdout and stderr are separate.</summary>
    Pipe,
}

/// <summary>A terminal's shell as a terminal executor receives it: validated and resolved by the host.</summary>
public sealed record TerminalSpec
{
    /// <summary>The terminal (session) id.</summary>
    public required string Id { get; init; }

    /// <summary>A command to run with <c>bash -c</c> instead of an interactive shell, or <c>null</c>.</summary>
    public string? Command { get; init; }

    /// <summary>Absolute directory the shell starts in (it exists), or <c>null</c> for the daemon's own.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The complete environment of the shell (the executor may add <c>TERM</c> in PTY mode when it is absent).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>PTY or pipe mode.</summary>
    public TerminalMode Mode { get; init; } = TerminalMode.Pty;

    /// <summary>Initial terminal width in columns (PTY mode).</summary>
    public ushort Columns { get; init; } = 80;

    /// <summary>Initial terminal height in rows (PTY mode).</summary>
    public ushort Rows { get; init; } = 24;
}

/// <summary>
/// Starts interactive shells attached to a pseudo-terminal or to pipes. Contributed by plugins; the host uses
/// the first one it finds.
/// </summary>
public interface ITerminalExecutor
{
    /// <summary>The name of this kind of terminal (shown in listings), e.g. <c>pty</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Starts the shell. Everything it prints goes to <paramref name="output"/> (PTY mode: all of it as
    /// <see cref="OutputStream.Stdout"/>), written from the executor's own readers: the host's writer never
    /// blocks them for long, so the shell never stalls on a client. Throws <see cref="CommandStartException"/>
    /// when the shell cannot be started.
    /// </summary>
    ITerminalProcess Start(TerminalSpec spec, IOutputWriter output);
}

/// <summary>One running terminal shell.</summary>
public interface ITerminalProcess : IAsyncDisposable
{
    /// <summary>The shell's process id (also its process group and session id).</summary>
    int ProcessId { get; }

    /// <summary>The mode the shell runs in.</summary>
    TerminalMode Mode { get; }

    /// <summary>
    /// Completes when the shell has exited <em>and</em> its output has been read to the end (or to an idle
    /// pause, when something the shell left behind still holds the terminal open), so no byte written
    /// before the exit is missing from the output when this completes.
    /// </summary>
    Task<CommandExit> Exited { get; }

    /// <summary>Writes bytes to the shell's input (the PTY master, or the stdin pipe) in full.</summary>
    ValueTask WriteInputAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Sets the terminal size. Returns false in pipe mode or once the shell is gone.</summary>
    bool Resize(ushort columns, ushort rows);

    /// <summary>
    /// Sends signal number <paramref name="signal"/>: in PTY mode to the terminal's foreground process group
    /// (the job in front, e.g. <c>sleep 30</c>, or the shell at its prompt), in pipe mode to the shell's group.
    /// Returns false when there is nobody to signal.
    /// </summary>
    bool Signal(int signal);

    /// <summary>Kills the shell's process group (SIGKILL) and hangs the terminal up. <see cref="Exited"/> then completes.</summary>
    void Kill();
}

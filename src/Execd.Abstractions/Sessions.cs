namespace Execd;

/// <summary>A session as a session executor receives it: validated and resolved by the host.</summary>
public sealed record SessionSpec
{
    /// <summary>The session id: a UUID with dashes, as upstream.</summary>
    public required string Id { get; init; }

    /// <summary>Absolute directory the shell starts in (it exists), or <c>null</c> for the daemon's own working directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The complete environment the shell starts with.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// Starts long-lived shells that keep their state between runs (working directory, variables exported or
/// not, functions, aliases, options, umask). Contributed by plugins; the host uses the first one it finds.
/// </summary>
public interface ISessionExecutor
{
    /// <summary>The name of this kind of session (shown in status and listings), e.g. <c>bash-session</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Starts the session's shell and returns once it is ready for its first run. Throws
    /// <see cref="CommandStartException"/> when the shell cannot be started.
    /// </summary>
    Task<IShellSession> StartAsync(SessionSpec spec, CancellationToken cancellationToken);
}

/// <summary>
/// One live shell. The host serializes runs: <see cref="RunAsync"/> is never called while another run of
/// the same session is in progress, and never after <see cref="IAsyncDisposable.DisposeAsync"/>.
/// </summary>
public interface IShellSession : IAsyncDisposable
{
    /// <summary>The session id.</summary>
    string Id { get; }

    /// <summary>The shell's process id (also its process group and session id), or <c>null</c> once it has ended.</summary>
    int? ProcessId { get; }

    /// <summary>The shell's current working directory (best effort; <c>null</c> if unknown).</summary>
    string? CurrentDirectory { get; }

    /// <summary>Why the session can take no more runs (its shell exited or was killed), or <c>null</c> while it is usable.</summary>
    string? EndReason { get; }

    /// <summary>Completes when the shell has ended for good (not when it was restarted after a stopped run).</summary>
    Task Ended { get; }

    /// <summary>
    /// Runs <paramref name="spec"/>'s command text in the shell itself (not in a child shell), so what it
    /// changes stays for later runs. <see cref="CommandSpec.WorkingDirectory"/>, when set, is changed to
    /// first (and stays, as with <c>cd</c>). The command reads end-of-file from stdin; stdout and stderr go
    /// to <see cref="ICommandContext.Output"/> separately. When <paramref name="stop"/> is cancelled (timeout
    /// or interrupt) everything the run started is killed and the returned exit says whether the shell
    /// kept its state or was restarted. A run that ends the shell (<c>exit</c>) returns its exit status and
    /// leaves <see cref="EndReason"/> set.
    /// </summary>
    Task<CommandExit> RunAsync(CommandSpec spec, ICommandContext context, CancellationToken stop);
}

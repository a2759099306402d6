namespace Execd;

/// <summary>Which of a child's pipes a chunk of output came from.</summary>
public enum OutputStream
{
    /// <summary>The child's standard output.</summary>
    Stdout = 1,

    /// <summary>The child's standard error.</summary>
    Stderr = 2,
}

/// <summary>
/// A command as an executor receives it: validated and resolved by the host. The environment is
/// final (daemon environment, then the <c>EXECD_ENVS</c> file, then the request's <c>envs</c>), and the
/// working directory, when set, is an absolute path that existed when the request was validated.
/// </summary>
public sealed record CommandSpec
{
    /// <summary>The command id: 32 lowercase hex characters.</summary>
    public required string Id { get; init; }

    /// <summary>The command text, passed as one argument to the executor's interpreter.</summary>
    public required string Command { get; init; }

    /// <summary>Absolute working directory, or <c>null</c> for the daemon's own working directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The complete environment of the child.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Run as this user id, when set.</summary>
    public uint? Uid { get; init; }

    /// <summary>Primary group id, resolved by the host whenever <see cref="Uid"/> is set.</summary>
    public uint? Gid { get; init; }

    /// <summary>Supplementary group ids of the user, resolved by the host whenever <see cref="Uid"/> is set.</summary>
    public IReadOnlyList<uint> Groups { get; init; } = [];

    /// <summary>Whether the client detached (background command).</summary>
    public bool Background { get; init; }

    /// <summary>The executor name the request asked for (<c>shell</c> unless the client chose another).</summary>
    public string Executor { get; init; } = "shell";

    /// <summary>
    /// Keep the child's stdin open as a pipe the client writes through the host (request field <c>stdin</c>); the
    /// executor hands its write end over with <see cref="ICommandContext.AttachStdin"/>. When false, stdin is
    /// <c>/dev/null</c>.
    /// </summary>
    public bool KeepStdinOpen { get; init; }

    /// <summary>
    /// When set, a directory where the executor may give the command named FIFOs (<c>&lt;Id&gt;.stdout</c>, <c>&lt;Id&gt;.stderr</c>)
    /// as stdout and stderr instead of anonymous pipes, opened read-write in the child: the output then outlives the daemon (nothing
    /// is lost and the command gets no SIGPIPE while no daemon reads; it blocks once the pipe is full) and a restarted daemon reopens
    /// them by name to go on reading. Executors that cannot do this ignore it.
    /// </summary>
    public string? CaptureDirectory { get; init; }
}

/// <summary>
/// The names of the files in a <see cref="CommandSpec.CaptureDirectory"/> that a command's shell writes when it ends while no daemon runs,
/// and that the next daemon reads: one naming for the executor that writes them and the host that reads and sweeps them.
/// </summary>
public static class CaptureFiles
{
    /// <summary>The lock a daemon holds shared while it may read commands' pipes; a shell drains its pipes only under it, exclusively.</summary>
    public const string LockFileName = ".daemon.lock";

    /// <summary>The file a command's shell writes its exit status into (decimal text).</summary>
    public static string Exit(string captureDirectory, string id) => Path.Combine(captureDirectory, id + ".exit");

    /// <summary>The file a command's shell drains what is left in its stdout or stderr pipe into (the pipe's inode on the first line).</summary>
    public static string Tail(string captureDirectory, string id, OutputStream stream) =>
        Path.Combine(captureDirectory, id + (stream == OutputStream.Stderr ? ".stderr-tail" : ".stdout-tail"));
}

/// <summary>
/// How a command ended, in upstream execd's terms: <see cref="ExitCode"/> is the exit status, or
/// <c>-1</c> when the process was killed by a signal; <see cref="Error"/> is the wait-error text
/// (<c>exit status 3</c>, <c>signal: killed</c>) or <c>null</c> on success.
/// </summary>
/// <param name="ExitCode">Exit status, or -1 when killed by a signal.</param>
/// <param name="Error">Go-style error text, <c>null</c> for exit 0.</param>
public sealed record CommandExit(int ExitCode, string? Error)
{
    /// <summary>A successful exit.</summary>
    public static CommandExit Success { get; } = new(0, null);

    /// <summary>An ordinary exit with status <paramref name="code"/>.</summary>
    public static CommandExit FromExitCode(int code) => code == 0 ? Success : new(code, $"exit status {code}");

    /// <summary>A death by signal, reported as upstream does: exit code -1, <c>signal: NAME</c>.</summary>
    public static CommandExit FromSignal(string signalName) => new(-1, $"signal: {signalName}");

    /// <summary>
    /// How many processes of the command were signalled when it was stopped (timeout or interrupt): the main
    /// process and everything it started, including processes that left its process group or session. 0 when the
    /// command was not stopped.
    /// </summary>
    public int KilledProcesses { get; init; }
}

/// <summary>
/// Thrown by an executor when the command could not be started at all (no shell, no permission to
/// switch user, missing working directory). The host reports <see cref="Exception.Message"/> as the
/// <c>error</c> event's <c>evalue</c> and traceback, like upstream.
/// </summary>
public sealed class CommandStartException : Exception
{
    /// <summary>Creates the exception with the text the client will see.</summary>
    public CommandStartException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The host side of one running command, handed to the executor.</summary>
public interface ICommandContext
{
    /// <summary>Where the executor writes the child's output, chunk by chunk, as it reads it.</summary>
    IOutputWriter Output { get; }

    /// <summary>Called once the child runs, with its process id (also its process group id) if it has one.</summary>
    void ReportStarted(int? processId);

    /// <summary>
    /// Hands the host the write end of the child's stdin when <see cref="CommandSpec.KeepStdinOpen"/> was asked
    /// for; called before <see cref="ReportStarted"/>. The host writes client bytes to it and disposes it to
    /// close stdin; the executor disposes it when the command ends. Executors without a stdin never call it.
    /// </summary>
    void AttachStdin(Stream stdin) { }

    /// <summary>
    /// In capture mode (<see cref="CommandSpec.CaptureDirectory"/> set, the child holding a reader of its own output pipes), hands the
    /// host the executor's read ends of the child's stdout and stderr pipes, from which it records the pipes' identities so that a
    /// restarted daemon can find them again under <c>/proc</c> (never read from the child's descriptors: a shell running
    /// <c>echo $$ &gt;&gt; file</c> has a file as its stdout for a moment). Called before <see cref="ReportStarted"/>; the handles stay
    /// the executor's. Other executors never call it.
    /// </summary>
    void ReportCapturePipes(System.Runtime.InteropServices.SafeHandle stdoutReadEnd, System.Runtime.InteropServices.SafeHandle stderrReadEnd) { }
}

/// <summary>
/// Receives a command's output. Each call appends one chunk to the command's output log at the next
/// absolute byte offset; the data is copied before the returned task completes, so the caller may
/// reuse its buffer. The task may wait (back-pressure from live readers); it never throws because
/// storage failed — the host handles storage failure.
/// </summary>
public interface IOutputWriter
{
    /// <summary>Appends <paramref name="data"/> read from <paramref name="stream"/>.</summary>
    ValueTask WriteAsync(OutputStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends up to <paramref name="count"/> bytes taken straight from <paramref name="pipe"/> (a pipe's read end) read from
    /// <paramref name="stream"/>, when the output's storage can take them without the bytes passing through memory first
    /// (<see cref="IOutputSink.AppendFromPipe"/>): a daemon killed at any instant then loses none. Never blocks on the pipe.
    /// Returns the bytes appended; 0 when the pipe is empty and has no writer left; -1 when it is empty but still has a
    /// writer (wait until it is readable); -2 when the output cannot take bytes this way now (read them and call
    /// <see cref="WriteAsync"/>).
    /// </summary>
    int WriteFromPipe(OutputStream stream, System.Runtime.InteropServices.SafeHandle pipe, int count) => -2;
}

/// <summary>
/// Runs commands. Executors are contributed by plugins; the request's <c>executor</c> field (default
/// <c>shell</c>) chooses one by <see cref="Name"/>.
/// </summary>
public interface ICommandExecutor
{
    /// <summary>The name clients choose this executor by (case-insensitive), e.g. <c>shell</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Runs <paramref name="spec"/> to its end. Output goes to <see cref="ICommandContext.Output"/>.
    /// When <paramref name="stop"/> is cancelled (timeout or interrupt) the executor stops everything
    /// the command started — for processes, TERM to the whole group, then KILL after a short grace —
    /// and returns how the command ended. Throws <see cref="CommandStartException"/> if it cannot start.
    /// </summary>
    Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop);
}

using System.Collections.Concurrent;
using Execd.Processes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.Shell;

/// <summary>
/// Runs commands as <c>bash -c</c> (or <c>sh -c</c> without bash) through the shared <see cref="Launcher"/>: its own
/// session and process group, default signal dispositions, stdin <c>/dev/null</c> (or a pipe when asked), stdout and
/// stderr read straight from the child's pipes. A stop (timeout or interrupt) sends TERM to everything the command
/// started (its cgroup, session and descendants), then KILL after a grace period.
/// </summary>
internal sealed class ShellExecutor : ICommandExecutor
{
    private readonly ILogger<ShellExecutor> logger;

    // The pumps of commands kept for the next daemon (capture mode), handed over when this daemon stops.
    private readonly ConcurrentDictionary<PipePump, byte> _capturePumps = new();

    // Storage directories already warned about (not searchable by a command's uid).
    private readonly ConcurrentDictionary<string, byte> _unreachableWarned = new(StringComparer.Ordinal);

    public ShellExecutor(ILogger<ShellExecutor> logger, IHostApplicationLifetime lifetime)
    {
        this.logger = logger;
        lifetime.ApplicationStopping.Register(HandOverCaptured);
    }

    /// <summary>How long a stopping daemon waits for its capture pumps to store the chunk each has in hand.</summary>
    internal static TimeSpan HandOverWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a TERM-ed command gets before KILL.</summary>
    internal static TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(2);

    public string Name => "shell";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        // Looked up per command, as upstream (bash may be installed while the daemon runs).
        var shell = ExecutablePath.Find("bash") ?? ExecutablePath.Find("sh") ?? "/bin/sh";
        // When the host asks (its shutdown policy keeps commands for the next daemon), the command's output and exit status outlive this
        // daemon: the child holds a reader of its own pipes (the next daemon reopens them through /proc), and its shell writes its exit
        // status beside the capture directory's other files if it ends while no daemon is its parent.
        var exitFile = spec.CaptureDirectory is { } dir ? CaptureFiles.Exit(dir, spec.Id) : null;
        if (spec.CaptureDirectory is { } own && spec.Uid is { } uid)
        {
            PrepareForUid(own, spec.Id, uid, spec.Gid ?? uid);
        }
        ChildProcess child;
        try
        {
            child = Launcher.Start(new LaunchOptions
            {
                Program = shell,
                Arguments = ["-c", spec.CaptureDirectory is not { } capture ? spec.Command : ExitStatusTrap.Wrap(spec.Command, capture, spec.Id, Environment.ProcessId)],
                Environment = spec.Environment,
                WorkingDirectory = spec.WorkingDirectory,
                StdinPipe = spec.KeepStdinOpen,
                Uid = spec.Uid,
                Gid = spec.Gid,
                Groups = spec.Groups,
                ChildHoldsReader = exitFile is not null,
            });
        }
        catch (LaunchException ex)
        {
            throw new CommandStartException(ex.Message, ex);
        }

        // Moving the child into its own cgroup waits for the kernel (a write to cgroup.procs: ~10 ms here, an RCU grace period), so it
        // runs beside the command instead of in front of its output: the pumps start at once. What the child forks before the move
        // is moved with it (Track adopts descendants); a stop waits for the move before it signals.
        var tracking = Task.Run(() => CommandProcesses.Track(child, spec.Id));
        if (child.Stdin is { } stdin)
        {
            context.AttachStdin(stdin);
        }
        if (exitFile is not null)
        {
            context.ReportCapturePipes(child.Stdout.SafePipeHandle, child.Stderr.SafePipeHandle);
        }
        context.ReportStarted(child.Pid);

        var stdout = new PipePump(child.Stdout, OutputStream.Stdout, context.Output);
        var stderr = new PipePump(child.Stderr, OutputStream.Stderr, context.Output);
        if (exitFile is not null)
        {
            _capturePumps.TryAdd(stdout, 0);
            _capturePumps.TryAdd(stderr, 0);
        }

        var termination = new Lazy<Task<int>>(() => TerminateAsync(tracking), LazyThreadSafetyMode.ExecutionAndPublication);
        WaitStatus status;
        await using (stop.Register(() => _ = termination.Value))
        {
            status = await child.Exited.ConfigureAwait(false);
        }

        _capturePumps.TryRemove(stdout, out _);
        _capturePumps.TryRemove(stderr, out _);
        // Ended while this daemon was stopping, after its pumps were handed over: this daemon is still its parent and reads the
        // rest itself (no next daemon could: the pipes vanish with the process).
        if (stdout.HandedOver)
        {
            stdout = new PipePump(child.Stdout, OutputStream.Stdout, context.Output);
        }
        if (stderr.HandedOver)
        {
            stderr = new PipePump(child.Stderr, OutputStream.Stderr, context.Output);
        }

        // The main process is gone: every byte already in the pipes is read and handed on, however slowly the writer
        // takes it. No timer drops anything.
        stdout.DrainAfterExit();
        stderr.DrainAfterExit();
        await Task.WhenAll(stdout.Completion, stderr.Completion).ConfigureAwait(false);

        var killed = termination.IsValueCreated ? await termination.Value.ConfigureAwait(false) : 0;
        // Leftovers go to the shared leftovers cgroup and the command's cgroup is removed off the response's path too.
        _ = tracking.ContinueWith(t => t.Result.Release(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        child.Stdin?.Dispose();
        Finish(spec.Id, stdout);
        Finish(spec.Id, stderr);
        DeleteCaptureFiles(spec, exitFile);

        var exit = status switch
        {
            { Signal: { } signal } => CommandExit.FromSignal(WaitStatus.SignalName(signal)),
            { ExitCode: { } code } => CommandExit.FromExitCode(code),
            _ => new CommandExit(-1, "wait: no child processes"),
        };
        return killed == 0 ? exit : exit with { KilledProcesses = killed };
    }

    /// <summary>
    /// The shell writes its exit file (and, before it, its tail files) only when it ends while this daemon is not its parent (it died
    /// meanwhile), so there is normally none; one that is there anyway (a daemon that died and this one's pid, a race at the exit, or
    /// the empty files made for a uid) is not needed: this daemon waited and read the pipes. One stat when there is none.
    /// </summary>
    private void DeleteCaptureFiles(CommandSpec spec, string? exitFile)
    {
        if (exitFile is null || spec.CaptureDirectory is not { } dir || (spec.Uid is null && !File.Exists(exitFile)))
        {
            return;
        }
        foreach (var path in new[] { exitFile, CaptureFiles.Tail(dir, spec.Id, OutputStream.Stdout), CaptureFiles.Tail(dir, spec.Id, OutputStream.Stderr) })
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger.LogDebug("Deleting {Path} failed: {Error}", path, ex.Message);
            }
        }
    }

    /// <summary>
    /// A command run as a uid cannot create files in <c>capture/</c> (mode 0711, root's): its exit and tail files are made beforehand,
    /// empty, owned by that uid and mode 0600, and its shell truncates them when it writes (an empty exit file reads as no exit status).
    /// </summary>
    private void PrepareForUid(string dir, string id, uint uid, uint gid)
    {
        // The storage directory holding capture/ is the provider's (Storage:Files:DirectoryMode, 0711 by default; one made beforehand may be
        // 0700): without search permission for others the uid's shell cannot reach its files there.
        if (Path.GetDirectoryName(dir) is { } parent && !OthersMaySearch(parent) && _unreachableWarned.TryAdd(parent, 0))
        {
            logger.LogWarning("{Dir} is not searchable by other users: commands run as a uid cannot leave their exit status or output for a next daemon"
                + " there (set the provider's DirectoryMode to 0711, and chmod the existing directory)", parent);
        }
        foreach (var path in new[] { CaptureFiles.Exit(dir, id), CaptureFiles.Tail(dir, id, OutputStream.Stdout), CaptureFiles.Tail(dir, id, OutputStream.Stderr) })
        {
            try
            {
                using (File.Open(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
                {
                }
                if (chown(path, uid, gid) != 0)
                {
                    throw new IOException($"chown: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Not fatal: the command runs; if it ends while no daemon runs, its exit status is unknown (-1), as before.
                logger.LogWarning("Command {Id}: {Path} could not be made for uid {Uid}: {Error}", id, path, uid, ex.Message);
            }
        }
    }

    private static bool OthersMaySearch(string dir)
    {
        try
        {
            return (File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) != 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return true;   // not known: nothing to warn about
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int chown(string path, uint owner, uint group);

    private static async Task<int> TerminateAsync(Task<CommandProcesses> tracking) =>
        await (await tracking.ConfigureAwait(false)).TerminateAsync(KillGrace).ConfigureAwait(false);

    /// <summary>
    /// A planned stop (SIGTERM) that keeps commands for the next daemon: each capture pump finishes the move it is in and stops, so
    /// nothing is taken out of a pipe without being stored; the next daemon reads on from the pipe. (A SIGKILL loses nothing either
    /// when the sink is a file: bytes move from the pipe into it with splice(2) — README, "Running commands across a restart".)
    /// </summary>
    private void HandOverCaptured()
    {
        var pumps = _capturePumps.Keys.ToList();
        if (pumps.Count == 0)
        {
            return;
        }
        foreach (var pump in pumps)
        {
            pump.HandOver();
        }
        var done = Task.WhenAll(pumps.Select(p => p.Completion)).Wait(HandOverWait);
        logger.LogInformation("Stopping: {Count} output streams of running commands handed over to the next daemon{Late}", pumps.Count,
            done ? "" : $" ({pumps.Count(p => !p.Completion.IsCompleted)} still storing after {HandOverWait.TotalSeconds:0} s)");
    }

    private void Finish(string id, PipePump pump)
    {
        if (pump.AtEof)
        {
            pump.Close();
            return;
        }
        // Leftover processes hold the pipe: they keep running; what they write from now on is read and dropped.
        _ = pump.DiscardLateOutputAsync().ContinueWith(
            t => logger.LogDebug("Command {Id}: {Bytes} bytes of late output from processes it left behind were not stored", id, t.Result),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }
}

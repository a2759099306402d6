using Execd.Processes;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.Shell;

/// <summary>
/// Runs commands as <c>bash -c</c> (or <c>sh -c</c> without bash) through the shared <see cref="Launcher"/>: its own
/// session and process group, default signal dispositions, stdin <c>/dev/null</c> (or a pipe when asked), stdout and
/// stderr read straight from the child's pipes. A stop (timeout or interrupt) sends TERM to everything the command
/// started (its cgroup, session and descendants), then KILL after a grace period.
/// </summary>
internal sealed class ShellExecutor(ILogger<ShellExecutor> logger) : ICommandExecutor
{
    /// <summary>How long a TERM-ed command gets before KILL.</summary>
    internal static TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(2);

    public string Name => "shell";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        // Looked up per command, as upstream (bash may be installed while the daemon runs).
        var shell = ExecutablePath.Find("bash") ?? ExecutablePath.Find("sh") ?? "/bin/sh";
        // Named FIFOs when the host asks (its shutdown policy keeps commands for the next daemon): output then outlives this daemon.
        (string Stdout, string Stderr)? fifos = spec.CaptureDirectory is { } dir
            ? (Path.Combine(dir, spec.Id + ".stdout"), Path.Combine(dir, spec.Id + ".stderr"))
            : null;
        // Beside them, the file the command's shell writes its exit status into (for a daemon that re-adopts it after a restart).
        var exitFile = spec.CaptureDirectory is { } d ? Path.Combine(d, spec.Id + ".exit") : null;
        ChildProcess child;
        try
        {
            child = Launcher.Start(new LaunchOptions
            {
                Program = shell,
                Arguments = ["-c", exitFile is null ? spec.Command : ExitStatusTrap.Wrap(spec.Command, exitFile)],
                Environment = spec.Environment,
                WorkingDirectory = spec.WorkingDirectory,
                StdinPipe = spec.KeepStdinOpen,
                Uid = spec.Uid,
                Gid = spec.Gid,
                Groups = spec.Groups,
                Fifos = fifos,
            });
        }
        catch (LaunchException ex)
        {
            DeleteFifos(fifos, exitFile);
            throw new CommandStartException(ex.Message, ex);
        }

        var processes = CommandProcesses.Track(child, spec.Id);
        if (child.Stdin is { } stdin)
        {
            context.AttachStdin(stdin);
        }
        context.ReportStarted(child.Pid);

        var stdout = new PipePump(child.Stdout, OutputStream.Stdout, context.Output);
        var stderr = new PipePump(child.Stderr, OutputStream.Stderr, context.Output);

        var termination = new Lazy<Task<int>>(() => processes.TerminateAsync(KillGrace), LazyThreadSafetyMode.ExecutionAndPublication);
        WaitStatus status;
        await using (stop.Register(() => _ = termination.Value))
        {
            status = await child.Exited.ConfigureAwait(false);
        }

        // The main process is gone: every byte already in the pipes is read and handed on, however slowly the writer
        // takes it. No timer drops anything.
        stdout.DrainAfterExit();
        stderr.DrainAfterExit();
        await Task.WhenAll(stdout.Completion, stderr.Completion).ConfigureAwait(false);

        var killed = termination.IsValueCreated ? await termination.Value.ConfigureAwait(false) : 0;
        processes.Release();
        child.Stdin?.Dispose();
        Finish(spec.Id, stdout);
        Finish(spec.Id, stderr);
        // The names (and the exit file) only matter to a daemon that re-adopts a running command; open ends keep working without them.
        DeleteFifos(fifos, exitFile);

        var exit = status switch
        {
            { Signal: { } signal } => CommandExit.FromSignal(WaitStatus.SignalName(signal)),
            { ExitCode: { } code } => CommandExit.FromExitCode(code),
            _ => new CommandExit(-1, "wait: no child processes"),
        };
        return killed == 0 ? exit : exit with { KilledProcesses = killed };
    }

    private void DeleteFifos((string Stdout, string Stderr)? fifos, string? exitFile)
    {
        // The exit file is deleted even if the launcher fell back to anonymous pipes (the shell wrote it all the same).
        string[] paths = fifos is { } f ? [f.Stdout, f.Stderr] : [];
        foreach (var path in exitFile is null ? paths : [.. paths, exitFile])
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger.LogDebug("Deleting FIFO {Path} failed: {Error}", path, ex.Message);
            }
        }
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

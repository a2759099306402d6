using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Execd.Core.Commands;

/// <summary>
/// A command process a previous daemon started and that still runs after a restart (issue 14 item 3, partly): the new daemon
/// is not its parent, so it watches it through <c>/proc</c> (pid plus start time, so a recycled pid is never mistaken for it)
/// and stops it by signalling its process group (executors start every command as its own session and group leader).
/// Only the parent can wait for it, so its exit status comes from the file its shell wrote on the way out (<see cref="ReadExitFile"/>).
/// </summary>
internal static partial class AdoptedProcess
{
    private const int SIGTERM = 15;
    private const int SIGKILL = 9;
    private static readonly TimeSpan WatchEvery = TimeSpan.FromMilliseconds(200);

    /// <summary>How long a TERM-ed re-adopted command gets before KILL (as the shell executor's grace).</summary>
    internal static TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The process's start time in clock ticks since boot (<c>/proc/PID/stat</c> field 22), or null if it is gone or a zombie.</summary>
    public static long? StartTicks(int pid)
    {
        var fields = StatFields($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}");
        if (fields is null || fields.Length < 20 || fields[0] is "Z" or "X")
        {
            return null;
        }
        return long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
    }

    /// <summary>The fields of <c>PROCDIR/stat</c> after the command name (state first), or null if the process is gone.</summary>
    private static string[]? StatFields(string procDir)
    {
        string stat;
        try
        {
            stat = File.ReadAllText(Path.Combine(procDir, "stat"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }

    /// <summary>Whether <paramref name="pid"/> is still the process that started at <paramref name="startTicks"/>.</summary>
    public static bool IsAlive(int pid, long startTicks) => StartTicks(pid) == startTicks;

    /// <summary>
    /// Runs as the command's executor (<see cref="CommandService"/> reported the process and wrote its record): waits until it is gone, and on <paramref name="stop"/> sends TERM to its
    /// process group, then KILL after <see cref="KillGrace"/>. The exit code is the one its shell wrote into <c>&lt;id&gt;.exit</c> beside the
    /// FIFOs; without that file (killed by SIGKILL, or the command replaced the shell with <c>exec</c>), -1 with the reason.
    /// </summary>
    public static async Task<CommandExit> WatchAsync(int pid, long startTicks, string? captureDirectory, string id, (long Stdout, long Stderr)? pipes,
        ICommandContext context, CancellationToken stop)
    {
        // The command's pipes (it holds a reader of each, so what it wrote while no daemon read is still in them), found in /proc; or
        // the named FIFOs an older daemon gave it.
        var fifos = captureDirectory is null ? [] : new[] { (Path.Combine(captureDirectory, id + ".stdout"), OutputStream.Stdout),
            (Path.Combine(captureDirectory, id + ".stderr"), OutputStream.Stderr) }.Where(f => File.Exists(f.Item1)).ToArray();
        (string Path, OutputStream Stream)[] sources = pipes is { } p
            ? new[] { (PipePath(pid, p.Stdout), OutputStream.Stdout), (PipePath(pid, p.Stderr), OutputStream.Stderr) }.Where(s => s.Item1 is not null).Select(s => (s.Item1!, s.Item2)).ToArray()
            : fifos;
        var pumps = sources.Select(f => Task.Factory.StartNew(() => Pump(f.Path, f.Stream, context.Output), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        var stopping = false;
        var killed = false;
        DateTime? killAt = null;
        while (IsAlive(pid, startTicks))
        {
            if (stop.IsCancellationRequested && !stopping)
            {
                stopping = true;
                Signal(pid, startTicks, SIGTERM);
                killAt = DateTime.UtcNow + KillGrace;
            }
            if (killAt is { } at && DateTime.UtcNow >= at)
            {
                Signal(pid, startTicks, SIGKILL);
                killed = true;
                killAt = DateTime.UtcNow + KillGrace;
            }
            // Polling /proc is confined to re-adopted commands (rare): the hot path of commands this daemon starts never polls.
            await Task.Delay(WatchEvery, CancellationToken.None).ConfigureAwait(false);
        }
        // EOF comes once every process holding the FIFO closed it; processes the command left behind may hold it for ever, so
        // for re-adopted commands (only) the wait after the main process is gone is bounded.
        await Task.WhenAny(Task.WhenAll(pumps), Task.Delay(DrainAfterExit)).ConfigureAwait(false);
        var exitFile = captureDirectory is null ? null : CaptureFiles.Exit(captureDirectory, id);
        // Stopped by this daemon (interrupt, timeout): the signal it sent, as a wait status would say for a command it started — the
        // exit file cannot tell (bash runs its EXIT trap on a TERM with the status of the last command it completed).
        var exit = stopping ? CommandExit.FromSignal(killed ? "killed" : "terminated")
            : exitFile is null ? null : ReadExitFile(exitFile);
        // Its exit trap drained its pipes only if it got the capture lock, i.e. it ended before this daemon held it (the daemon then waited
        // for the trap, and found its shell still exiting), or this daemon gave up waiting for it: what it drained comes after what was read.
        if (captureDirectory is not null)
        {
            RecoverTails(captureDirectory, id, pipes, context.Output, null);
        }
        foreach (var path in fifos.Select(f => f.Item1).Append(exitFile).OfType<string>())
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }
        return exit ?? new CommandExit(-1, (stopping ? "stopped" : "ended")
            + "; re-adopted after a daemon restart and its shell left no exit status (killed by a signal it could not trap, such as SIGKILL,"
            + " or it replaced the shell with exec or reset its traps), so its exit status is not observable");
    }

    /// <summary>The inode numbers of the pipes behind two of this daemon's descriptors (a command's read ends), or null if either is not a pipe.</summary>
    public static (long Stdout, long Stderr)? PipesOf(System.Runtime.InteropServices.SafeHandle stdout, System.Runtime.InteropServices.SafeHandle stderr) =>
        PipeInode($"/proc/self/fd/{stdout.DangerousGetHandle().ToInt64().ToString(CultureInfo.InvariantCulture)}") is { } o
        && PipeInode($"/proc/self/fd/{stderr.DangerousGetHandle().ToInt64().ToString(CultureInfo.InvariantCulture)}") is { } e
            ? (o, e)
            : null;

    private static long? PipeInode(string fdPath)
    {
        try
        {
            var target = new FileInfo(fdPath).LinkTarget;
            return target is not null && target.StartsWith("pipe:[", StringComparison.Ordinal) && target.EndsWith(']')
                && long.TryParse(target.AsSpan(6, target.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out var inode) ? inode : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// A path that opens pipe <paramref name="inode"/> (<c>/proc/P/fd/N</c>), held by the command's main process or, if it no longer holds
    /// it, by another process of its session; null if none does (every holder closed it: nothing more can come through it).
    /// </summary>
    private static string? PipePath(int pid, long inode)
    {
        var session = pid.ToString(CultureInfo.InvariantCulture);
        var holders = new List<string> { session };
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                var name = Path.GetFileName(dir);
                if (name != session && name.All(char.IsAsciiDigit) && SessionOf(dir) == session)
                {
                    holders.Add(name);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        foreach (var holder in holders)
        {
            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{holder}/fd"))
                {
                    if (PipeInode(fd) == inode)
                    {
                        return fd;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }
        return null;
    }

    // Field 6 of /proc/P/stat: the session id.
    private static string? SessionOf(string procDir) => StatFields(procDir) is { Length: > 3 } fields ? fields[3] : null;

    /// <summary>
    /// How a command ended, from the exit file its shell wrote: an exit status (decimal text) or <c>signal: NAME</c> (exit -1, as a wait
    /// status of a signal death reads). Null when the file is missing, empty or holds anything else.
    /// </summary>
    public static CommandExit? ReadExitFile(string path)
    {
        string text;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length is 0 or > 64)
            {
                return null;
            }
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code <= 255)
        {
            return CommandExit.FromExitCode(code);
        }
        return text.StartsWith("signal: ", StringComparison.Ordinal) && text.Length > 8 && text.All(c => c is >= ' ' and <= '~')
            ? new CommandExit(-1, text)
            : null;
    }

    /// <summary>
    /// Appends what a command's exit trap drained from its pipes (stdout's tail, then stderr's, each as its own stream run) to
    /// <paramref name="output"/>, each only if the inode on the tail file's first line is the recorded pipe's (else the bytes came from some
    /// other pipe the command's shell had as fd 1 or 2, and are not its output), and deletes the tail files. True when a tail was there and
    /// every tail there matched; false when one did not; null when there was none (no drain ran, or the uid's empty files were left as made).
    /// </summary>
    public static bool? RecoverTails(string captureDirectory, string id, (long Stdout, long Stderr)? pipes, IOutputWriter output,
        ILogger? logger)
    {
        bool? recovered = null;
        foreach (var (stream, inode) in new[] { (OutputStream.Stdout, pipes?.Stdout), (OutputStream.Stderr, pipes?.Stderr) })
        {
            var path = CaptureFiles.Tail(captureDirectory, id, stream);
            byte[] bytes;
            try
            {
                if (!File.Exists(path))
                {
                    continue;
                }
                bytes = File.ReadAllBytes(path);
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                logger?.LogWarning("Command {Id}: tail file {Path} unreadable: {Error}", id, path, ex.Message);
                recovered = false;
                continue;
            }
            if (bytes.Length == 0)
            {
                continue;
            }
            var newline = Array.IndexOf(bytes, (byte)'\n');
            if (newline <= 0 || inode is not { } expected
                || !long.TryParse(System.Text.Encoding.ASCII.GetString(bytes, 0, newline), NumberStyles.None, CultureInfo.InvariantCulture, out var found)
                || found != expected)
            {
                logger?.LogWarning("Command {Id}: tail file {Path} is not from the command's recorded {Stream} pipe; its {Bytes} bytes are not stored",
                    id, path, stream, bytes.Length);
                recovered = false;
                continue;
            }
            recovered ??= true;
            var data = bytes.AsMemory(newline + 1);
            if (!data.IsEmpty)
            {
                WriteNow(output, stream, data);
            }
        }
        return recovered;
    }

    /// <summary>How long a re-adopted command's FIFOs are read after its main process is gone (leftover processes may hold them).</summary>
    internal static TimeSpan DrainAfterExit { get; set; } = TimeSpan.FromSeconds(2);

    private static void Pump(string path, OutputStream stream, IOutputWriter output)
    {
        try
        {
            // Opening for reading blocks only while no writer holds the pipe; the command holds it read-write until it exits.
            using var fifo = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            byte[]? buffer = null;
            while (true)
            {
                // As for the commands this daemon starts: moved straight into a file provider, so this daemon's crash loses nothing either.
                var n = output.WriteFromPipe(stream, fifo.SafeFileHandle, 1024 * 1024);
                if (n == -1)
                {
                    WaitReadable(fifo.SafeFileHandle);
                    continue;
                }
                if (n == -2)
                {
                    buffer ??= new byte[64 * 1024];
                    n = fifo.Read(buffer);
                    if (n > 0)
                    {
                        WriteNow(output, stream, buffer.AsMemory(0, n));
                    }
                }
                if (n == 0)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone with the command: nothing more to read.
        }
    }

    // On a thread of its own (a pump, or start-up): waits for the write if it must.
    private static void WriteNow(IOutputWriter output, OutputStream stream, ReadOnlyMemory<byte> data)
    {
        var write = output.WriteAsync(stream, data);
        if (!write.IsCompletedSuccessfully)
        {
            write.AsTask().GetAwaiter().GetResult();
        }
    }

    // This pump has a thread of its own (re-adopted commands are few): it waits in poll(2) until the pipe has bytes or no writer.
    private static void WaitReadable(SafeHandle pipe) => PipePoll.Wait(pipe);

    private static void Signal(int pid, long startTicks, int signal)
    {
        // Checked just before: the group id is the command's pid, reused only once every member is gone.
        if (IsAlive(pid, startTicks) && kill(-pid, signal) != 0)
        {
            _ = kill(pid, signal);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}

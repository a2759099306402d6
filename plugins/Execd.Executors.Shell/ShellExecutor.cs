using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.Shell;

/// <summary>
/// Runs commands as <c>bash -c</c> (or <c>sh -c</c> without bash) in their own process group, reading
/// stdout and stderr straight from the child's pipes. A stop (timeout or interrupt) sends TERM to the
/// whole group, then KILL after a grace period.
/// </summary>
internal sealed class ShellExecutor(ILogger<ShellExecutor> logger) : ICommandExecutor
{
    private const int BufferSize = 64 * 1024;
    private const int LargeBufferSize = 1024 * 1024;

    /// <summary>How long a TERM-ed group gets before KILL.</summary>
    internal static TimeSpan KillGrace { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long output is still read after the shell exited while its leftover children hold the pipes.</summary>
    internal static TimeSpan DrainAfterExit { get; set; } = TimeSpan.FromMilliseconds(500);

    private static readonly string? SetSid = Which("setsid");
    private static readonly string? SetPriv = Which("setpriv");

    public string Name => "shell";

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        using var process = new Process { StartInfo = BuildStartInfo(spec) };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            throw new CommandStartException(StartError(spec, ex), ex);
        }
        process.StandardInput.Close(); // the child reads EOF at once, as from /dev/null
        var pid = process.Id;
        context.ReportStarted(pid);

        using var pumpsCancel = new CancellationTokenSource();
        var stdout = PumpAsync(process.StandardOutput.BaseStream, OutputStream.Stdout, context.Output, pumpsCancel.Token);
        var stderr = PumpAsync(process.StandardError.BaseStream, OutputStream.Stderr, context.Output, pumpsCancel.Token);

        var signal = new SignalState();
        await using (stop.Register(() => _ = TerminateAsync(pid, process, signal)))
        {
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        signal.Exited = true;

        // The shell is gone; children it left behind may still hold the pipes. Read what they write for a
        // short while, then stop reading (upstream stops at once and loses that output).
        var pumps = Task.WhenAll(stdout, stderr);
        if (await Task.WhenAny(pumps, Task.Delay(DrainAfterExit, CancellationToken.None)).ConfigureAwait(false) != pumps)
        {
            pumpsCancel.Cancel();
        }
        await pumps.ConfigureAwait(false);

        var code = process.ExitCode;
        return signal.Sent switch
        {
            15 when code == 128 + 15 => CommandExit.FromSignal("terminated"),
            9 when code == 128 + 9 => CommandExit.FromSignal("killed"),
            15 when code == 128 + 9 => CommandExit.FromSignal("killed"),
            _ => CommandExit.FromExitCode(code),
        };
    }

    private static async Task PumpAsync(Stream pipe, OutputStream stream, IOutputWriter output, CancellationToken cancel)
    {
        var size = BufferSize;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            while (true)
            {
                int n;
                try
                {
                    n = await pipe.ReadAsync(buffer.AsMemory(0, size), cancel).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                if (n == 0)
                {
                    return;
                }
                await output.WriteAsync(stream, buffer.AsMemory(0, n), CancellationToken.None).ConfigureAwait(false);
                if (n == size && size == BufferSize)
                {
                    // A full read: a bulk producer. Each read costs the daemon two wake-ups (poll, then the read on
                    // the thread pool), and on a busy machine each waits for a time slice; with the default 64 KiB
                    // pipe that capped bulk output far below a plain `cat`. A larger pipe and buffer move more per
                    // wake-up; commands with little output keep the small buffer.
                    size = LargeBufferSize;
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(size);
                    GrowPipe(pipe);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void GrowPipe(Stream pipe)
    {
        if (pipe is System.IO.Pipes.PipeStream { SafePipeHandle: var handle } && !handle.IsInvalid)
        {
            // Best effort: the kernel caps the size (fs.pipe-max-size, per-user pipe limits); failing is harmless.
            _ = Native.fcntl((int)handle.DangerousGetHandle(), Native.F_SETPIPE_SZ, LargeBufferSize);
        }
    }

    private sealed class SignalState
    {
        public volatile int Sent;
        public volatile bool Exited;
    }

    private async Task TerminateAsync(int pid, Process process, SignalState state)
    {
        if (state.Exited)
        {
            return;
        }
        state.Sent = 15;
        Signal(pid, process, 15);
        try
        {
            await Task.Delay(KillGrace).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        if (!state.Exited)
        {
            state.Sent = 9;
            Signal(pid, process, 9);
        }
    }

    private void Signal(int pid, Process process, int signal)
    {
        if (SetSid is not null)
        {
            // The child leads its own process group (pgid == pid): signal all of it.
            if (Native.kill(-pid, signal) != 0)
            {
                logger.LogDebug("kill(-{Pid}, {Signal}) failed: errno {Errno}", pid, signal, System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
            }
            return;
        }
        try
        {
            // No setsid on this system: no own group, so walk the tree instead (KILL only).
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private static ProcessStartInfo BuildStartInfo(CommandSpec spec)
    {
        var shell = Which("bash") ?? Which("sh") ?? "sh";
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = spec.WorkingDirectory ?? "",
        };
        if (SetSid is not null)
        {
            psi.FileName = SetSid;
            psi.ArgumentList.Add("--");
        }
        if (spec.Uid is { } uid)
        {
            if (SetPriv is null)
            {
                throw new CommandStartException("cannot switch to uid " + uid + ": setpriv (util-linux) is not installed");
            }
            AddFirst(psi, SetPriv);
            psi.ArgumentList.Add($"--reuid={uid}");
            psi.ArgumentList.Add($"--regid={spec.Gid ?? uid}");
            psi.ArgumentList.Add(spec.Groups.Count == 0 ? "--clear-groups" : "--groups=" + string.Join(',', spec.Groups));
            psi.ArgumentList.Add("--");
        }
        AddFirst(psi, shell);
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(spec.Command);
        psi.Environment.Clear();
        foreach (var (k, v) in spec.Environment)
        {
            psi.Environment[k] = v;
        }
        return psi;
    }

    // The first program becomes FileName; later ones are arguments of the wrappers before them.
    private static void AddFirst(ProcessStartInfo psi, string program)
    {
        if (string.IsNullOrEmpty(psi.FileName))
        {
            psi.FileName = program;
        }
        else
        {
            psi.ArgumentList.Add(program);
        }
    }

    private static string StartError(CommandSpec spec, Exception ex)
    {
        if (spec.WorkingDirectory is { } dir && !Directory.Exists(dir))
        {
            return $"chdir {dir}: no such file or directory";
        }
        return ex.Message;
    }

    /// <summary>Finds a program on the daemon's own PATH (as upstream: the request's PATH does not count).</summary>
    private static string? Which(string program)
    {
        var path = System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}

using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.BashSession;

/// <summary>How one run in a shell ended.</summary>
internal enum RunEnd { Completed, ShellExited, Stopped, ProtocolBroken, Stalled }

/// <summary>
/// One <c>bash --noprofile --norc -s</c> process in its own process group and kernel session
/// (started by the shared <see cref="Launcher"/>), driven by <see cref="ShellProtocol"/> lines on its stdin. stdout and stderr are read
/// continuously; bytes go to the current run's output until that run's end marker, and are dropped
/// between runs (a background job still writing after its run ended).
/// </summary>
internal sealed class ShellProcess : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    private const int SigKill = 9, SigStop = 19;

    /// <summary>How long output is still read after the shell died while leftover children hold the pipes.</summary>
    private static readonly TimeSpan DrainAfterExit = TimeSpan.FromMilliseconds(300);

    private readonly ChildProcess _process;
    private readonly Stream _stdin;
    private readonly CancellationTokenSource _pumpsCancel = new();
    private readonly Task _pumps;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private volatile RunState? _current;
    private string? _protocolFds;
    private string? _stdinPipe;

    /// <summary>How often a running run's protocol fds are checked.</summary>
    private static readonly TimeSpan ProtocolCheckInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How many checks in a row must find the shell waiting for more input (with everything it wrote already read)
    /// before the run is declared stalled: about two seconds, so output still on its way is never cut short.
    /// </summary>
    private const int StalledChecks = 8;

    // Pump progress, for the stall check: reads completed, and reads whose bytes are still being scanned or stored.
    private long _pumpReads;
    private int _pumpsBusy;
    private int _disposed;

    private ShellProcess(ChildProcess process, ILogger logger)
    {
        _process = process;
        _logger = logger;
        Pid = process.Pid;
        _stdin = process.Stdin!;
        Exited = process.Exited;
        _pumps = Task.WhenAll(
            PumpAsync(process.Stdout, OutputStream.Stdout),
            PumpAsync(process.Stderr, OutputStream.Stderr));
    }

    public int Pid { get; }

    /// <summary>Completes when the bash process has exited.</summary>
    public Task Exited { get; }

    /// <summary>The shell's exit status (128 + signal for a killed shell), once it has exited.</summary>
    public int? ExitCode => _process.Exited is { IsCompletedSuccessfully: true, Result: var s } ? s.ExitCode ?? 128 + s.Signal ?? -1 : null;

    public string? CurrentDirectory
    {
        get
        {
            try
            {
                return Exited.IsCompleted ? null : new FileInfo($"/proc/{Pid}/cwd").LinkTarget;
            }
            catch (IOException)
            {
                return null;
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    public static async Task<ShellProcess> StartAsync(string bash, string? workingDirectory, IReadOnlyDictionary<string, string> environment,
        ILogger logger, CancellationToken cancellationToken)
    {
        ChildProcess process;
        try
        {
            // The shared launcher: own session, default signal dispositions, a stdin pipe for the protocol, only fds 0-2.
            process = Launcher.Start(new LaunchOptions
            {
                Program = bash,
                Arguments = ["--noprofile", "--norc", "-s"],
                Environment = environment,
                WorkingDirectory = workingDirectory,
                StdinPipe = true,
            });
        }
        catch (LaunchException ex)
        {
            throw new CommandStartException($"start bash: {ex.Message}", ex);
        }
        var shell = new ShellProcess(process, logger);
        // The ready marker proves the shell reads our lines and owns the private fds before the first run.
        var token = ShellProtocol.NewToken();
        var ready = new RunState(token, null);
        shell._current = ready;
        _ = shell.WriteAsync(ShellProtocol.StartLine(token));
        var first = await Task.WhenAny(ready.Ended, shell.Exited, Task.Delay(TimeSpan.FromSeconds(10), cancellationToken)).ConfigureAwait(false);
        shell._current = null;
        if (first != ready.Ended)
        {
            var why = shell.Exited.IsCompleted ? $"bash exited at start with status {shell.ExitCode}" : "bash did not answer within 10 s";
            await shell.KillAllAsync().ConfigureAwait(false);
            await shell.DisposeAsync().ConfigureAwait(false);
            throw new CommandStartException($"start bash: {why}");
        }
        return shell;
    }

    /// <summary>Runs one command line and waits for its end markers, for the shell to exit, or for <paramref name="stop"/>.</summary>
    public async Task<(RunEnd End, int Code)> RunAsync(string command, string? workingDirectory, IOutputWriter output, CancellationToken stop)
    {
        var token = ShellProtocol.NewToken();
        var run = new RunState(token, output);
        // Between runs the shell is idle and its private fds are ours: what they are now is what they must stay.
        _protocolFds ??= ProtocolFds();
        _stdinPipe ??= FdLink(0);
        _current = run;
        var write = WriteAsync(ShellProtocol.RunLine(token, command, workingDirectory));
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (stop.Register(() => stopped.TrySetResult()))
        {
            var first = await Task.WhenAny(run.Ended, Exited, stopped.Task, Task.Delay(ProtocolCheckInterval, CancellationToken.None)).ConfigureAwait(false);
            var stalled = 0;
            var readsSeen = -1L;
            // Bounded by the run itself: each turn either ends the run or finds the fds intact and the shell not waiting for input.
            while (first is not null && first != run.Ended && first != Exited && first != stopped.Task)
            {
                if (_protocolFds is { } expected && ProtocolFds() is { } now && now != expected)
                {
                    _logger.LogInformation("Session shell {Pid}: the run closed or replaced the protocol's descriptors ({Expected} → {Now})", Pid, expected, now);
                    _current = null;
                    return (RunEnd.ProtocolBroken, -1);
                }
                var reads = Interlocked.Read(ref _pumpReads);
                // A check counts only while the thread pool has nothing queued (one made while work waits neither counts nor resets):
                // a pump whose read already took the run's end marker out of the pipe may be waiting there for a thread on a loaded
                // machine, and a restarted shell would lose the session's state (CI: an exported variable gone after a false "stalled").
                if (!(write.IsCompleted && reads == readsSeen && WaitsForInput()))
                {
                    stalled = 0;
                }
                else if (ThreadPool.PendingWorkItemCount == 0)
                {
                    stalled++;
                }
                readsSeen = reads;
                if (stalled >= StalledChecks && !run.Ended.IsCompleted)
                {
                    _logger.LogWarning("Session shell {Pid}: the shell read the whole run line and waits for more input without having ended the run", Pid);
                    _current = null;
                    return (RunEnd.Stalled, -1);
                }
                first = await Task.WhenAny(run.Ended, Exited, stopped.Task, Task.Delay(ProtocolCheckInterval, CancellationToken.None)).ConfigureAwait(false);
            }
            if (run.Ended.IsCompleted)
            {
                _current = null;
                return (RunEnd.Completed, run.Code ?? 0);
            }
            if (first == Exited)
            {
                // Read what the shell wrote before it went (its pipes may be held by leftover children).
                await Task.WhenAny(_pumps, Task.Delay(DrainAfterExit, CancellationToken.None)).ConfigureAwait(false);
                _current = null;
                return (RunEnd.ShellExited, ExitCode ?? -1);
            }
        }
        _ = write;
        return (RunEnd.Stopped, -1);
    }

    /// <summary>
    /// What the shell's protocol fds (<see cref="ShellProtocol.StdoutFd"/>, <see cref="ShellProtocol.StderrFd"/>) are, as
    /// <c>/proc/PID/fd</c> names them (<c>pipe:[inode]</c>; "closed" when gone), or null when that cannot be read.
    /// A run that closes or reuses them (<c>exec 250&gt;&amp;-</c>) would never write its end marker: the run is
    /// ended instead of waiting forever.
    /// </summary>
    private string? ProtocolFds() =>
        Exited.IsCompleted ? null : FdLink(ShellProtocol.StdoutFd) is { } stdout && FdLink(ShellProtocol.StderrFd) is { } stderr ? $"{stdout} {stderr}" : null;

    /// <summary>What the shell's descriptor <paramref name="fd"/> is (<c>pipe:[inode]</c>, "closed"), or null when that cannot be read.</summary>
    private string? FdLink(int fd)
    {
        try
        {
            return new FileInfo($"/proc/{Pid}/fd/{fd}").LinkTarget ?? "closed";
        }
        catch (IOException)
        {
            return "closed";
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether the shell has consumed the whole run line and is blocked reading its command pipe for more, with
    /// everything it wrote already read and scanned: then the line's end markers can never come. That is what a
    /// run that stops the shell executing (<c>set -n</c>), a DEBUG trap that reads stdin, or bash's parser left
    /// expecting a continuation after an <c>eval</c> look like: an idle shell and a run that waits forever.
    /// During the run proper fd 0 is <c>/dev/null</c> (or whatever the user redirected), so this cannot match a
    /// command that is merely slow or waiting for its own input.
    /// </summary>
    private bool WaitsForInput()
    {
        if (_process.Stdin is not { } stdin || ChildProcess.BytesAvailable(stdin) != 0
            || ChildProcess.BytesAvailable(_process.Stdout) != 0 || ChildProcess.BytesAvailable(_process.Stderr) != 0
            || Volatile.Read(ref _pumpsBusy) != 0)
        {
            return false;
        }
        if (_stdinPipe is null || FdLink(0) != _stdinPipe)
        {
            return false;
        }
        return BlockedReadingStdin(Pid);
    }

    /// <summary>The read(2) system call number of this machine, for <c>/proc/PID/syscall</c>; null where it is not known.</summary>
    private static readonly string? ReadSyscall = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => "0",
        Architecture.Arm64 or Architecture.RiscV64 or Architecture.LoongArch64 => "63",
        _ => null,
    };

    /// <summary>Whether <paramref name="pid"/> is blocked in <c>read(0, …)</c> (from <c>/proc/PID/syscall</c>; false when unreadable).</summary>
    internal static bool BlockedReadingStdin(int pid)
    {
        try
        {
            // "0 0x0 0x55d0… 0x1 …": syscall number, then the arguments; a running process reads "running".
            var fields = File.ReadAllText($"/proc/{pid}/syscall").Split(' ', 3);
            return ReadSyscall is not null && fields.Length >= 2 && fields[0] == ReadSyscall && fields[1] == "0x0";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Stops a run for good: freezes the shell (so its script cannot go on), kills every process started
    /// since <paramref name="runStartedTicks"/> in the shell's session or below it, then kills the shell.
    /// Processes that existed before the run (background jobs of earlier runs) are left alone.
    /// </summary>
    public async Task KillRunAsync(long runStartedTicks)
    {
        _current = null;
        _process.Signal(SigStop);
        var killed = ProcessTree.KillMembers(Pid, runStartedTicks);
        _process.Signal(SigKill);
        _logger.LogDebug("Session shell {Pid}: killed {Count} processes of the stopped run and the shell", Pid, killed);
        await Task.WhenAny(Exited, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
    }

    /// <summary>Kills the shell and every process of its session.</summary>
    public async Task KillAllAsync()
    {
        // The current run (if any) is left to see the exit and collect what was written before it.
        if (!Exited.IsCompleted)
        {
            _process.Signal(SigStop);
        }
        ProcessTree.KillMembers(Pid, 0);
        _process.Signal(SigKill);
        await Task.WhenAny(Exited, Task.Delay(TimeSpan.FromSeconds(2))).ConfigureAwait(false);
    }

    private async Task WriteAsync(byte[] line)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _stdin.WriteAsync(line).ConfigureAwait(false);
            await _stdin.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The shell is gone; the exit watcher reports it.
            _logger.LogDebug("Session shell {Pid}: write failed: {Error}", Pid, ex.Message);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task PumpAsync(Stream pipe, OutputStream stream)
    {
        var scanner = new MarkerScanner(data => EmitAsync(stream, data), (token, code) => OnMarker(stream, token, code));
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var n = await pipe.ReadAsync(buffer.AsMemory(0, BufferSize), _pumpsCancel.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                Interlocked.Increment(ref _pumpsBusy);
                Interlocked.Increment(ref _pumpReads);
                try
                {
                    await scanner.FeedAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _pumpsBusy);
                }
            }
            await scanner.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Disposed, or the pipe broke: nothing more to read.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private ValueTask EmitAsync(OutputStream stream, ReadOnlyMemory<byte> data)
    {
        var run = _current;
        return run?.Output is { } output && !run.IsDone(stream) ? output.WriteAsync(stream, data) : ValueTask.CompletedTask;
    }

    private bool OnMarker(OutputStream stream, string token, int? code)
    {
        var run = _current;
        if (run is not null && run.Token == token)
        {
            run.Done(stream, code);
            return true;
        }
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        // Let the readers take what the shell wrote before it went (a run may still be collecting it), then stop them.
        await Task.WhenAny(_pumps, Task.Delay(DrainAfterExit)).ConfigureAwait(false);
        await _pumpsCancel.CancelAsync().ConfigureAwait(false);
        await Task.WhenAny(_pumps, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
        try
        {
            _stdin.Dispose();
        }
        catch (IOException)
        {
        }
        _process.Dispose();
        _pumpsCancel.Dispose();
    }

    internal static string? Which(string program) => ExecutablePath.Find(program);

    /// <summary>One run's routing state: where its bytes go and which end markers have been seen.</summary>
    private sealed class RunState(string token, IOutputWriter? output)
    {
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _stdoutDone;
        private volatile bool _stderrDone;

        public string Token { get; } = token;
        public IOutputWriter? Output { get; } = output;
        public int? Code { get; private set; }
        public Task Ended => _ended.Task;

        public bool IsDone(OutputStream stream) => stream == OutputStream.Stdout ? _stdoutDone : _stderrDone;

        public void Done(OutputStream stream, int? code)
        {
            if (stream == OutputStream.Stdout)
            {
                Code = code;
                _stdoutDone = true;
            }
            else
            {
                _stderrDone = true;
            }
            if (_stdoutDone && _stderrDone)
            {
                _ended.TrySetResult();
            }
        }
    }
}

using System.Buffers;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.BashSession;

/// <summary>How one run in a shell ended.</summary>
internal enum RunEnd { Completed, ShellExited, Stopped }

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
        _current = run;
        var write = WriteAsync(ShellProtocol.RunLine(token, command, workingDirectory));
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (stop.Register(() => stopped.TrySetResult()))
        {
            var first = await Task.WhenAny(run.Ended, Exited, stopped.Task).ConfigureAwait(false);
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
                await scanner.FeedAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
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

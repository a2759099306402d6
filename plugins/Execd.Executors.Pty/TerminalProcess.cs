using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Execd.Executors.Pty;

/// <summary>
/// One shell on a pseudo-terminal (or on pipes) and the threads that serve it: a reader per output fd that
/// copies everything into the host's writer at once (the shell never waits for a client), and a waiter that
/// reaps the shell. <see cref="Exited"/> completes only after the readers drained the output to EOF/EIO, or to
/// an idle pause when a background job still holds the terminal, so an exit never overtakes its last bytes.
/// </summary>
internal sealed class TerminalProcess : ITerminalProcess
{
    private static readonly TimeSpan DrainIdle = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ShellStartup = TimeSpan.FromSeconds(10);
    private const int ReadBuffer = 64 * 1024;

    private readonly object _fdGate = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource<CommandExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IOutputWriter _output;
    private readonly int _master;          // PTY mode: the master; -1 in pipe mode
    private readonly int _input;           // where stdin goes: the master, or the stdin pipe's write end
    private readonly int[] _outputs;       // fds the readers read
    private readonly int _wakeRead;        // the waiter writes a byte here when the shell is gone: readers stop blocking
    private readonly int _wakeWrite;
    private long _goneAt;                  // Stopwatch timestamp when the shell was reaped; 0 while it runs
    private readonly bool _interactive;    // PTY mode without a command: bash installs its own signal handlers
    private readonly long _startedAt = Stopwatch.GetTimestamp();
    private bool _closed;

    private TerminalProcess(int pid, TerminalMode mode, int master, int input, int[] outputs, IOutputWriter output, bool interactive = false)
    {
        _interactive = interactive;
        ProcessId = pid;
        Mode = mode;
        _master = master;
        _input = input;
        _outputs = outputs;
        _output = output;
        (_wakeRead, _wakeWrite) = Pipe(Native.O_CLOEXEC | Native.O_NONBLOCK);
    }

    public int ProcessId { get; }
    public TerminalMode Mode { get; }
    public Task<CommandExit> Exited => _exited.Task;
    private bool Gone => Volatile.Read(ref _goneAt) != 0;

    public static TerminalProcess Start(string bash, TerminalSpec spec, IOutputWriter output)
    {
        var argv = new List<string> { bash, "--norc", "--noprofile" };
        if (!string.IsNullOrEmpty(spec.Command))
        {
            argv.AddRange(["-c", spec.Command]);
        }
        var environment = new Dictionary<string, string>(spec.Environment, StringComparer.Ordinal);
        TerminalProcess process;
        if (spec.Mode == TerminalMode.Pty)
        {
            // Full-screen programs need TERM; a daemon started by an init system often has none.
            environment.TryAdd("TERM", "xterm-256color");
            var master = OpenMaster(spec.Columns, spec.Rows, out var slavePath);
            int pid;
            try
            {
                pid = Spawner.Spawn(bash, argv, environment, spec.WorkingDirectory, new Spawner.Terminal(slavePath));
            }
            catch
            {
                Native.close(master);
                throw;
            }
            SetNonBlocking(master);
            process = new TerminalProcess(pid, TerminalMode.Pty, master, master, [master], output, interactive: string.IsNullOrEmpty(spec.Command));
        }
        else
        {
            var (inRead, inWrite) = Pipe(Native.O_CLOEXEC);
            var (outRead, outWrite) = Pipe(Native.O_CLOEXEC);
            var (errRead, errWrite) = Pipe(Native.O_CLOEXEC);
            int pid;
            try
            {
                pid = Spawner.Spawn(bash, argv, environment, spec.WorkingDirectory, new Spawner.Pipes(inRead, outWrite, errWrite));
            }
            catch
            {
                foreach (var fd in new[] { inWrite, outRead, errRead })
                {
                    Native.close(fd);
                }
                throw;
            }
            finally
            {
                // The child has its copies; ours would keep the pipes from ever reaching EOF.
                foreach (var fd in new[] { inRead, outWrite, errWrite })
                {
                    Native.close(fd);
                }
            }
            SetNonBlocking(inWrite);
            SetNonBlocking(outRead);
            SetNonBlocking(errRead);
            process = new TerminalProcess(pid, TerminalMode.Pipe, -1, inWrite, [outRead, errRead], output);
        }
        process.Run();
        return process;
    }

    private static unsafe int OpenMaster(ushort columns, ushort rows, out string slavePath)
    {
        var master = Native.posix_openpt(Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC);
        if (master < 0)
        {
            throw new CommandStartException($"posix_openpt: {Native.Describe(Native.Errno)}");
        }
        try
        {
            if (Native.grantpt(master) != 0 || Native.unlockpt(master) != 0)
            {
                throw new CommandStartException($"grantpt/unlockpt: {Native.Describe(Native.Errno)}");
            }
            var name = stackalloc byte[256];
            var rc = Native.ptsname_r(master, name, 256);
            if (rc != 0)
            {
                throw new CommandStartException($"ptsname_r: {Native.Describe(rc)}");
            }
            slavePath = Marshal.PtrToStringUTF8((nint)name)!;
            var size = new Native.WinSize { Columns = columns, Rows = rows };
            if (Native.ioctl(master, Native.TIOCSWINSZ, &size) != 0)
            {
                throw new CommandStartException($"TIOCSWINSZ: {Native.Describe(Native.Errno)}");
            }
            return master;
        }
        catch
        {
            Native.close(master);
            throw;
        }
    }

    private static unsafe (int Read, int Write) Pipe(int flags)
    {
        var fds = stackalloc int[2];
        if (Native.pipe2(fds, flags) != 0)
        {
            throw new CommandStartException($"pipe2: {Native.Describe(Native.Errno)}");
        }
        return (fds[0], fds[1]);
    }

    private static void SetNonBlocking(int fd)
    {
        var flags = Native.fcntl(fd, Native.F_GETFL, 0);
        Native.fcntl(fd, Native.F_SETFL, flags | Native.O_NONBLOCK);
    }

    private void Run()
    {
        var waiter = StartThread($"pty-wait-{ProcessId}", Wait);
        var readers = _outputs.Select((fd, i) => StartThread($"pty-read-{ProcessId}-{i}",
            () => ReadAll(fd, i == 0 ? OutputStream.Stdout : OutputStream.Stderr))).ToArray();
        _ = Task.Run(async () =>
        {
            var exit = await waiter.ConfigureAwait(false);
            await Task.WhenAll(readers).ConfigureAwait(false);
            CloseAll();
            _exited.TrySetResult(exit);
        });
    }

    private static Task<T> StartThread<T>(string name, Func<T> body)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.TrySetResult(body());
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        })
        { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }

    private unsafe CommandExit Wait()
    {
        int status;
        int rc;
        do
        {
            rc = Native.waitpid(ProcessId, &status, 0);
        }
        while (rc < 0 && Native.Errno == Native.EINTR);
        Volatile.Write(ref _goneAt, Stopwatch.GetTimestamp());
        byte one = 1;
        Native.write(_wakeWrite, &one, 1);
        if (rc < 0)
        {
            return new CommandExit(-1, $"wait: {Native.Describe(Native.Errno)}");
        }
        var signal = status & 0x7f;
        return signal == 0 ? CommandExit.FromExitCode((status >> 8) & 0xff) : CommandExit.FromSignal(SignalName(signal));
    }

    private static string SignalName(int signal) => signal switch
    {
        1 => "hangup", 2 => "interrupt", 3 => "quit", 9 => "killed", 13 => "broken pipe", 15 => "terminated",
        _ => $"signal {signal}",
    };

    private unsafe bool ReadAll(int fd, OutputStream stream)
    {
        var buffer = new byte[ReadBuffer];
        var fds = stackalloc Native.PollFd[2];
        long idleSince = 0;
        while (true)
        {
            var gone = Volatile.Read(ref _goneAt);
            if (gone != 0 && Stopwatch.GetElapsedTime(gone) > DrainLimit)
            {
                return true; // something the shell left behind keeps printing; the terminal is over
            }
            fds[0] = new Native.PollFd { Fd = fd, Events = Native.POLLIN };
            fds[1] = new Native.PollFd { Fd = _wakeRead, Events = Native.POLLIN };
            var ready = Native.poll(fds, gone != 0 ? 1u : 2u, gone != 0 ? (int)DrainIdle.TotalMilliseconds : -1);
            if (ready < 0)
            {
                if (Native.Errno == Native.EINTR)
                {
                    continue;
                }
                return false;
            }
            if (fds[0].Revents == 0)
            {
                if (gone != 0)
                {
                    if (idleSince == 0)
                    {
                        idleSince = Stopwatch.GetTimestamp();
                    }
                    else if (Stopwatch.GetElapsedTime(idleSince) >= DrainIdle)
                    {
                        return true;
                    }
                }
                continue;
            }
            nint n;
            fixed (byte* p = buffer)
            {
                n = Native.read(fd, p, (nuint)buffer.Length);
            }
            if (n > 0)
            {
                idleSince = 0;
                var write = _output.WriteAsync(stream, buffer.AsMemory(0, (int)n));
                if (!write.IsCompletedSuccessfully)
                {
                    write.AsTask().GetAwaiter().GetResult();
                }
                continue;
            }
            if (n == 0)
            {
                return true; // EOF: every writer of the pipe is gone
            }
            var errno = Native.Errno;
            if (errno is Native.EAGAIN or Native.EINTR)
            {
                continue;
            }
            return true; // EIO: the terminal's last slave fd closed
        }
    }

    public async ValueTask WriteInputAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (!data.IsEmpty)
            {
                var n = WriteSome(data.Span);
                if (n > 0)
                {
                    data = data[n..];
                }
                else
                {
                    // The terminal's input queue is full: the shell is not reading. Wait without holding a thread.
                    await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private unsafe int WriteSome(ReadOnlySpan<byte> data)
    {
        lock (_fdGate)
        {
            if (_closed)
            {
                throw new IOException("the shell has exited");
            }
            while (true)
            {
                nint n;
                fixed (byte* p = data)
                {
                    n = Native.write(_input, p, (nuint)data.Length);
                }
                if (n >= 0)
                {
                    return (int)n;
                }
                var errno = Native.Errno;
                if (errno == Native.EAGAIN)
                {
                    return 0;
                }
                if (errno != Native.EINTR)
                {
                    throw new IOException($"write: {Native.Describe(errno)}");
                }
            }
        }
    }

    public unsafe bool Resize(ushort columns, ushort rows)
    {
        lock (_fdGate)
        {
            if (_closed || _master < 0)
            {
                return false;
            }
            var size = new Native.WinSize { Columns = columns, Rows = rows };
            // The kernel sends SIGWINCH to the terminal's foreground process group.
            return Native.ioctl(_master, Native.TIOCSWINSZ, &size) == 0;
        }
    }

    /// <summary>The terminal's size, as the kernel holds it (tests and diagnostics).</summary>
    internal unsafe (ushort Columns, ushort Rows)? Size
    {
        get
        {
            lock (_fdGate)
            {
                var size = default(Native.WinSize);
                return _closed || _master < 0 || Native.ioctl(_master, Native.TIOCGWINSZ, &size) != 0 ? null : (size.Columns, size.Rows);
            }
        }
    }

    public bool Signal(int signal)
    {
        AwaitShellHandlers(signal);
        lock (_fdGate)
        {
            if (Gone)
            {
                return false;
            }
            var group = ProcessId;
            if (_master >= 0 && !_closed && Native.tcgetpgrp(_master) is > 0 and var foreground)
            {
                group = foreground;
            }
            return Native.kill(-group, signal) == 0;
        }
    }

    /// <summary>
    /// A freshly spawned interactive bash has every signal at its default (the spawn reset them) until it has set up
    /// its handlers, so a SIGINT sent right after attaching (upstream's own acceptance case does that) would kill it
    /// instead of being handled. While the shell is young, hold the signal until bash catches or ignores it (bounded).
    /// </summary>
    private void AwaitShellHandlers(int signal)
    {
        if (!_interactive || signal is Native.SIGKILL or 19 /* SIGSTOP: neither can be caught */ || Stopwatch.GetElapsedTime(_startedAt) > ShellStartup)
        {
            return;
        }
        // Ready when it handles the signal and ignores SIGTERM: bash catches SIGINT with a handler that ends the shell early in
        // its start-up and installs the interactive one, together with ignoring SIGTERM, only later (CI caught the early one).
        for (var i = 0; i < 1000 && !Gone && !(Handles(ProcessId, signal) && Ignores(ProcessId, 15 /* SIGTERM */))
            && Stopwatch.GetElapsedTime(_startedAt) < ShellStartup; i++)
        {
            Thread.Sleep(10);
        }
    }

    /// <summary>Whether <paramref name="pid"/> catches or ignores <paramref name="signal"/> (<c>SigCgt</c>/<c>SigIgn</c> in /proc).</summary>
    internal static bool Handles(int pid, int signal) => SignalMask(pid, signal, "SigCgt:", "SigIgn:");

    /// <summary>Whether <paramref name="pid"/> ignores <paramref name="signal"/> (<c>SigIgn</c> in /proc).</summary>
    internal static bool Ignores(int pid, int signal) => SignalMask(pid, signal, "SigIgn:", "SigIgn:");

    private static bool SignalMask(int pid, int signal, string first, string second)
    {
        try
        {
            var bit = 1UL << (signal - 1);
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if ((line.StartsWith(first, StringComparison.Ordinal) || line.StartsWith(second, StringComparison.Ordinal))
                    && (Convert.ToUInt64(line[7..].Trim(), 16) & bit) != 0)
                {
                    return true;
                }
            }
            return false;
        }
        catch (IOException)
        {
            return true; // gone: nothing to wait for
        }
    }

    public void Kill()
    {
        lock (_fdGate)
        {
            if (Gone)
            {
                return;
            }
            // Jobs bash put in other process groups: the foreground one is killed too; background ones get the hang-up.
            if (_master >= 0 && !_closed && Native.tcgetpgrp(_master) is > 0 and var foreground && foreground != ProcessId)
            {
                Native.kill(-foreground, Native.SIGKILL);
            }
            Native.kill(-ProcessId, Native.SIGKILL);
        }
    }

    private void CloseAll()
    {
        lock (_fdGate)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            foreach (var fd in _outputs.Append(_input).Append(_wakeRead).Append(_wakeWrite).Distinct())
            {
                Native.close(fd);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await Exited.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }
}

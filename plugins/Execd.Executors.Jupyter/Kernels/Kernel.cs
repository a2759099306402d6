using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Execd.Executors.Jupyter.Protocol;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace Execd.Executors.Jupyter.Kernels;

internal enum KernelChannel { Shell, Control, IoPub, Stdin }

/// <summary>
/// One kernel process, started from its kernelspec with a connection file of ours, in its own session and
/// process group, and the daemon's end of its ZeroMQ channels. All sockets but the heartbeat live on one
/// poller thread (NetMQ sockets are not thread-safe); others send through a queue and receive through
/// handlers registered by the parent <c>msg_id</c> of the messages they expect.
/// </summary>
internal sealed class Kernel : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Action<KernelChannel, WireMessage>> _handlers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _died = new();
    private readonly StringBuilder _outputTail = new();
    private readonly MessageSigner _signer;
    private readonly string _session = Guid.NewGuid().ToString("D");
    private readonly ILogger _logger;
    private readonly JupyterOptions _options;
    private readonly Process _process;
    private readonly string _connectionFile;
    private readonly int[] _ports;
    private NetMQPoller? _poller;
    private NetMQSocket[] _sockets = [];
    private NetMQQueue<(KernelChannel, NetMQMessage)>? _outbox;
    private Thread? _heartbeat;
    private volatile string? _deadReason;
    private int _disposed;

    private Kernel(Process process, MessageSigner signer, string connectionFile, int[] ports, JupyterOptions options, ILogger logger)
    {
        _process = process;
        _signer = signer;
        _connectionFile = connectionFile;
        _ports = ports;
        _options = options;
        _logger = logger;
    }

    public int ProcessId { get; private set; }
    public bool Exited => _process.HasExited;
    public string? DeadReason => _deadReason;

    /// <summary>Cancelled when the kernel is found dead (process gone, heartbeat lost, or killed by us).</summary>
    public CancellationToken Died => _died.Token;

    /// <summary>How many times a kernel that lost one of its ports to another process is started again on fresh ports.</summary>
    private const int PortConflictAttempts = 3;

    /// <summary>
    /// Starts the kernel and returns once it answered <c>kernel_info_request</c> and its iopub channel delivers.
    /// The ports are picked free but released before the kernel binds them (as jupyter_client does), so another
    /// process can take one in between; a kernel that exits with "Address already in use" is started again on
    /// fresh ports, up to <see cref="PortConflictAttempts"/> times.
    /// </summary>
    public static async Task<Kernel> StartAsync(KernelSpec spec, CodeContextSpec context, string runtimeDir, JupyterOptions options,
        ILogger logger, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(spec, context, runtimeDir, options, logger, cancellationToken).ConfigureAwait(false);
            }
            catch (CommandStartException ex) when (attempt < PortConflictAttempts
                && ex.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                logger.LogWarning("Kernel {Kernel} for context {Context} lost a port to another process before binding it; starting it again on fresh ports (attempt {Attempt} of {Attempts})",
                    spec.Name, context.Id, attempt + 1, PortConflictAttempts);
            }
        }
    }

    private static async Task<Kernel> StartOnceAsync(KernelSpec spec, CodeContextSpec context, string runtimeDir, JupyterOptions options,
        ILogger logger, CancellationToken cancellationToken)
    {
        var signer = MessageSigner.CreateRandom();
        var ports = FreePorts(5);
        var connectionFile = Path.Combine(runtimeDir, $"kernel-{context.Id}.json");
        var connection = new JsonObject
        {
            ["transport"] = "tcp",
            ["ip"] = "127.0.0.1",
            ["shell_port"] = ports[0],
            ["iopub_port"] = ports[1],
            ["stdin_port"] = ports[2],
            ["control_port"] = ports[3],
            ["hb_port"] = ports[4],
            ["key"] = signer.Key,
            ["signature_scheme"] = "hmac-sha256",
            ["kernel_name"] = spec.Name,
        };
        await File.WriteAllTextAsync(connectionFile, connection.ToJsonString(), cancellationToken).ConfigureAwait(false);
        File.SetUnixFileMode(connectionFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var start = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = context.WorkingDirectory ?? Environment.CurrentDirectory,
        };
        // setsid: the kernel leads its own session and process group (pid == pgid), so an interrupt or a kill
        // reaches everything the cell started, and nothing of the daemon's group.
        const string Setsid = "/usr/bin/setsid";
        var argv = spec.Argv.Select(a => a.Replace("{connection_file}", connectionFile, StringComparison.Ordinal)
            .Replace("{resource_dir}", spec.Directory, StringComparison.Ordinal)).ToList();
        if (File.Exists(Setsid))
        {
            start.FileName = Setsid;
            argv.ForEach(start.ArgumentList.Add);
        }
        else
        {
            start.FileName = argv[0];
            argv.Skip(1).ToList().ForEach(start.ArgumentList.Add);
        }
        start.Environment.Clear();
        foreach (var (k, v) in context.Environment)
        {
            start.Environment[k] = v;
        }
        foreach (var (k, v) in spec.Env)
        {
            start.Environment[k] = v;
        }
        var ipythonDir = Path.Combine(runtimeDir, "ipython");
        start.Environment["JUPYTER_RUNTIME_DIR"] = runtimeDir;
        start.Environment["IPYTHONDIR"] = ipythonDir;
        // ipykernel exits by itself when this process is gone (its parent poller), so a crashed daemon leaves no kernels.
        start.Environment["JPY_PARENT_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!start.Environment.TryGetValue("TMPDIR", out var tmp) || string.IsNullOrEmpty(tmp) || !Directory.Exists(tmp))
        {
            // The daemon's temp directory may be gone (cleaned /tmp): the kernel gets one that exists.
            start.Environment["TMPDIR"] = runtimeDir;
        }
        Directory.CreateDirectory(ipythonDir);

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            TryDelete(connectionFile);
            throw new CommandStartException($"kernel {spec.Name} could not be started ({argv[0]}): {ex.Message}", ex);
        }
        var kernel = new Kernel(process, signer, connectionFile, ports, options, logger) { ProcessId = process.Id };
        process.StandardInput.Close();
        kernel.Drain(process.StandardOutput);
        kernel.Drain(process.StandardError);
        process.Exited += (_, _) => kernel.MarkDead($"the kernel process exited ({ExitText(process)})");
        try
        {
            kernel.Connect();
            await kernel.WaitReadyAsync(spec, cancellationToken).ConfigureAwait(false);
            return kernel;
        }
        catch
        {
            await kernel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static string ExitText(Process process)
    {
        try
        {
            return $"exit code {process.ExitCode}";
        }
        catch (InvalidOperationException)
        {
            return "exit code unknown";
        }
    }

    private void Drain(StreamReader reader) => _ = Task.Run(async () =>
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (_outputTail)
            {
                _outputTail.Append(buffer, 0, n);
                if (_outputTail.Length > 4096)
                {
                    _outputTail.Remove(0, _outputTail.Length - 4096);
                }
            }
        }
    });

    /// <summary>The last few KiB the kernel process wrote to its own stdout/stderr (for error messages).</summary>
    public string OutputTail()
    {
        lock (_outputTail)
        {
            return _outputTail.ToString().Trim();
        }
    }

    private async Task WaitReadyAsync(KernelSpec spec, CancellationToken cancellationToken)
    {
        var sawIoPub = 0;
        var replied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var deadline = Stopwatch.StartNew();
        // Resent until answered: a request sent before the kernel bound its sockets is queued by ZeroMQ, but
        // iopub is a subscription that only delivers once joined, so readiness is "reply seen and iopub seen".
        for (var attempt = 0; deadline.Elapsed < _options.StartTimeout; attempt++)
        {
            var msgId = Guid.NewGuid().ToString("N");
            using (Subscribe(msgId, (channel, message) =>
            {
                if (channel == KernelChannel.IoPub)
                {
                    Interlocked.Exchange(ref sawIoPub, 1);
                }
                else if (message.MsgType == "kernel_info_reply")
                {
                    replied.TrySetResult();
                }
                if (Volatile.Read(ref sawIoPub) == 1 && replied.Task.IsCompleted)
                {
                    replied.TrySetResult();
                }
            }))
            {
                Send(KernelChannel.Shell, "kernel_info_request", msgId, []);
                var wait = TimeSpan.FromMilliseconds(Math.Min(1000, 100 * (attempt + 1)));
                try
                {
                    await replied.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
                    if (Volatile.Read(ref sawIoPub) == 1)
                    {
                        return;
                    }
                    await Task.Delay(50, cancellationToken).ConfigureAwait(false);
                    if (Volatile.Read(ref sawIoPub) == 1)
                    {
                        return;
                    }
                }
                catch (TimeoutException)
                {
                }
            }
            if (_deadReason is not null)
            {
                var tail = OutputTail();
                throw new CommandStartException($"kernel {spec.Name} ({spec.Argv[0]}) failed to start: {_deadReason}{(tail.Length > 0 ? ": " + tail : "")}");
            }
        }
        throw new CommandStartException($"kernel {spec.Name} did not answer within {_options.StartTimeout.TotalSeconds:0.#} s");
    }

    private void Connect()
    {
        var shell = new DealerSocket();
        var control = new DealerSocket();
        var stdin = new DealerSocket();
        var iopub = new SubscriberSocket();
        _sockets = [shell, control, stdin, iopub];
        foreach (var socket in _sockets)
        {
            socket.Options.Linger = TimeSpan.Zero;
        }
        shell.Connect($"tcp://127.0.0.1:{_ports[0]}");
        iopub.Connect($"tcp://127.0.0.1:{_ports[1]}");
        iopub.SubscribeToAnyTopic();
        stdin.Connect($"tcp://127.0.0.1:{_ports[2]}");
        control.Connect($"tcp://127.0.0.1:{_ports[3]}");
        var outbox = new NetMQQueue<(KernelChannel, NetMQMessage)>();
        outbox.ReceiveReady += (_, e) =>
        {
            while (e.Queue.TryDequeue(out var item, TimeSpan.Zero))
            {
                var socket = item.Item1 switch { KernelChannel.Control => control, KernelChannel.Stdin => stdin, _ => shell };
                socket.TrySendMultipartMessage(TimeSpan.FromSeconds(1), item.Item2);
            }
        };
        shell.ReceiveReady += (_, e) => Receive(KernelChannel.Shell, e.Socket);
        control.ReceiveReady += (_, e) => Receive(KernelChannel.Control, e.Socket);
        stdin.ReceiveReady += (_, e) => Receive(KernelChannel.Stdin, e.Socket);
        iopub.ReceiveReady += (_, e) => Receive(KernelChannel.IoPub, e.Socket);
        _outbox = outbox;
        _poller = new NetMQPoller { shell, control, stdin, iopub, outbox };
        _poller.RunAsync($"jupyter-{ProcessId}");
        _heartbeat = new Thread(Heartbeat) { IsBackground = true, Name = $"jupyter-hb-{ProcessId}" };
        _heartbeat.Start();
    }

    private void Receive(KernelChannel channel, NetMQSocket socket)
    {
        var frames = new NetMQMessage();
        while (socket.TryReceiveMultipartMessage(TimeSpan.Zero, ref frames))
        {
            var message = WireMessage.Parse(_signer, frames, out var problem);
            if (message is null)
            {
                _logger.LogWarning("Kernel {Pid}: dropped a message on {Channel}: {Problem}", ProcessId, channel, problem);
            }
            else if (message.ParentMsgId is { } parent && _handlers.TryGetValue(parent, out var handler))
            {
                try
                {
                    handler(channel, message);
                }
                catch (Exception ex)
                {
                    _logger.LogError(ex, "Kernel {Pid}: handler of {MsgType} failed", ProcessId, message.MsgType);
                }
            }
            else if (channel == KernelChannel.Stdin)
            {
                // allow_stdin is false on every request: a kernel asking anyway gets nothing and would wait; say so.
                _logger.LogWarning("Kernel {Pid}: unexpected {MsgType} on stdin", ProcessId, message.MsgType);
            }
            frames = new NetMQMessage();
        }
    }

    private void Heartbeat()
    {
        var misses = 0;
        RequestSocket? socket = null;
        try
        {
            while (Volatile.Read(ref _disposed) == 0 && _deadReason is null)
            {
                if (socket is null)
                {
                    socket = new RequestSocket();
                    socket.Options.Linger = TimeSpan.Zero;
                    socket.Connect($"tcp://127.0.0.1:{_ports[4]}");
                }
                var started = Stopwatch.StartNew();
                if (socket.TrySendFrame(TimeSpan.FromSeconds(1), "ping") && socket.TryReceiveFrameBytes(_options.HeartbeatInterval, out _))
                {
                    misses = 0;
                    var rest = _options.HeartbeatInterval - started.Elapsed;
                    if (rest > TimeSpan.Zero)
                    {
                        _died.Token.WaitHandle.WaitOne(rest);
                    }
                    continue;
                }
                // A REQ socket that missed its reply is stuck in its state machine: start a new one.
                socket.Dispose();
                socket = null;
                if (++misses >= _options.HeartbeatMisses)
                {
                    MarkDead($"heartbeat lost ({misses} pings unanswered)");
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or NetMQException)
        {
            // Shutting down.
        }
        finally
        {
            socket?.Dispose();
        }
    }

    /// <summary>Sends a request; replies and iopub messages come to the handler subscribed for <paramref name="msgId"/>.</summary>
    public void Send(KernelChannel channel, string msgType, string msgId, JsonObject content)
    {
        var outbox = _outbox ?? throw new InvalidOperationException("kernel not connected");
        outbox.Enqueue((channel, WireMessage.Create(_signer, _session, msgType, msgId, content)));
    }

    /// <summary>Routes every message whose parent is <paramref name="msgId"/> to <paramref name="handler"/> (on the poller thread) until disposed.</summary>
    public IDisposable Subscribe(string msgId, Action<KernelChannel, WireMessage> handler)
    {
        _handlers[msgId] = handler;
        return new Unsubscriber(_handlers, msgId);
    }

    private sealed class Unsubscriber(ConcurrentDictionary<string, Action<KernelChannel, WireMessage>> handlers, string msgId) : IDisposable
    {
        public void Dispose() => handlers.TryRemove(msgId, out _);
    }

    /// <summary>Signals the kernel's whole process group.</summary>
    public void Signal(int signal)
    {
        if (!_process.HasExited)
        {
            _ = Native.kill(-ProcessId, signal);
        }
    }

    /// <summary>Records why the kernel is dead (the first reason wins) and wakes everyone waiting on it.</summary>
    public void MarkDead(string reason)
    {
        if (Interlocked.CompareExchange(ref _deadReason, reason, null) is null)
        {
            _logger.LogWarning("Kernel {Pid} is dead: {Reason}", ProcessId, reason);
            try
            {
                _died.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Kills the kernel's process group and waits (bounded) for it to be gone.</summary>
    public async Task KillAsync(string reason)
    {
        MarkDead(reason);
        Signal(Native.SIGKILL);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _logger.LogError("Kernel {Pid} did not exit after SIGKILL", ProcessId);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        // Deleted on purpose: its exit is no death worth a warning.
        Interlocked.CompareExchange(ref _deadReason, "deleted", null);
        _died.Cancel();
        if (!_process.HasExited)
        {
            // Polite first (the kernel cleans up its own files), then the whole group.
            try
            {
                Send(KernelChannel.Control, "shutdown_request", Guid.NewGuid().ToString("N"), new JsonObject { ["restart"] = false });
                using var polite = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _process.WaitForExitAsync(polite.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException)
            {
            }
        }
        await KillAsync("deleted").ConfigureAwait(false);
        if (_poller is not null)
        {
            _poller.Stop();
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
            _poller.Dispose();
            _outbox?.Dispose();
        }
        _heartbeat?.Join(TimeSpan.FromSeconds(5));
        TryDelete(_connectionFile);
        _process.Dispose();
        _died.Dispose();
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Ports handed to kernels recently, so two kernels starting at once never get the same one.</summary>
    private static readonly ConcurrentDictionary<int, long> RecentlyIssuedPorts = new();

    /// <summary>
    /// Free loopback ports, as jupyter_client picks them: bind port 0, note the port, release. A port this daemon
    /// handed to another kernel in the last minute is skipped (the kernel may not have bound it yet).
    /// </summary>
    private static int[] FreePorts(int count)
    {
        var now = Environment.TickCount64;
        foreach (var (port, issued) in RecentlyIssuedPorts)
        {
            if (now - issued > 60_000)
            {
                RecentlyIssuedPorts.TryRemove(port, out _);
            }
        }
        var listeners = new List<TcpListener>();
        try
        {
            var ports = new List<int>();
            for (var i = 0; ports.Count < count && i < 100; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listeners.Add(listener);   // held until all are picked, so one call never repeats a port
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                if (RecentlyIssuedPorts.TryAdd(port, now))
                {
                    ports.Add(port);
                }
            }
            return ports.Count == count ? [.. ports] : throw new CommandStartException("no free loopback ports for the kernel");
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }
}

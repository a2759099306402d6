using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Execd.Executors.Pty;

namespace Execd.Benchmarks;

/// <summary>
/// Terminals (<c>--only pty</c>): a keystroke's echo and a large <c>cat</c> through the daemon (WebSocket, the
/// terminal's output log) vs the same PTY code driven in this process (the plugin's <see cref="TerminalProcess"/>,
/// no daemon, no socket), in the same run. Everything it writes stays in the daemon's work folder.
/// </summary>
internal sealed class TerminalBenchmark(Report report, int keystrokes)
{
    private const long CatBytes = 32L << 20;
    private const int LineWidth = 100;
    private const int CatRuns = 3;
    private static readonly TimeSpan KeyTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CatTimeout = TimeSpan.FromSeconds(120);
    private static readonly System.Text.RegularExpressions.Regex Prompt = new(@"[$#] $");

    public async Task RunAsync()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var http = new HttpClient { BaseAddress = daemon.BaseAddress };
        await KeystrokesAsync(daemon, http);
        await CatAsync(daemon, http);
    }

    private async Task KeystrokesAsync(DaemonProcess daemon, HttpClient http)
    {
        await using var remote = await RemoteTerminal.OpenAsync(daemon, http, command: null);
        await using var local = LocalTerminal.Start(daemon.Work, command: null);
        // bash's prompt: "bash-5.2$ ", or "# " as root.
        await remote.WaitForAsync(Prompt, KeyTimeout);
        await local.WaitForAsync(Prompt, KeyTimeout);
        await EchoTimesAsync(remote, 20);
        await EchoTimesAsync(local, 20);
        // Interleaved blocks, so drift on a shared machine hits both sides alike.
        var overSocket = new List<double>();
        var inProcess = new List<double>();
        for (var block = 0; block < 10; block++)
        {
            overSocket.AddRange(await EchoTimesAsync(remote, keystrokes / 10));
            inProcess.AddRange(await EchoTimesAsync(local, keystrokes / 10));
        }
        report.Add(new Row("pty", $"keystroke → echo, median ms ({overSocket.Count} keys into interactive bash: `0x00` frame out, `0x01` frame back; baseline: the same PTY code in-process, write to the master, read the echo)",
            Report.F(Stats.Median(overSocket), 3), Report.F(Stats.Median(inProcess), 3), Report.F(Stats.Median(overSocket) / Stats.Median(inProcess)) + "×"));
        report.Add(new Row("pty", "keystroke → echo, p99 ms", Report.F(Stats.Percentile(overSocket, 99), 3), Report.F(Stats.Percentile(inProcess, 99), 3),
            Report.F(Stats.Percentile(overSocket, 99) / Stats.Percentile(inProcess, 99)) + "×"));
        await remote.DeleteAsync();
    }

    /// <summary>Types <c>x</c> and times until it is echoed, then erases it (backspace, untimed) so the line stays short.</summary>
    private static async Task<List<double>> EchoTimesAsync(ITerminal terminal, int count)
    {
        var times = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            terminal.Discard();
            var started = Stopwatch.GetTimestamp();
            await terminal.TypeAsync((byte)'x');
            await terminal.WaitForAsync("x", KeyTimeout);
            times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            await terminal.TypeAsync(0x7F);
            await terminal.WaitForAsync("\b", KeyTimeout);
        }
        return times;
    }

    private async Task CatAsync(DaemonProcess daemon, HttpClient http)
    {
        var file = Path.Combine(daemon.Work, "cat-input.txt");
        await WriteLinesAsync(file);
        var command = $"cat '{file}'";
        var overSocket = new List<double>();
        var inProcess = new List<double>();
        long remoteBytes = 0, localBytes = 0;
        for (var run = 0; run < CatRuns; run++)
        {
            var started = Stopwatch.GetTimestamp();
            await using (var remote = await RemoteTerminal.OpenAsync(daemon, http, command))
            {
                remoteBytes = await remote.CountUntilExitAsync(CatTimeout);
                overSocket.Add(CatBytes / 1048576.0 / Stopwatch.GetElapsedTime(started).TotalSeconds);
                await remote.DeleteAsync();
            }
            started = Stopwatch.GetTimestamp();
            await using (var local = LocalTerminal.Start(daemon.Work, command))
            {
                localBytes = await local.CountUntilExitAsync(CatTimeout);
                inProcess.Add(CatBytes / 1048576.0 / Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
        }
        var (socketRate, localRate) = (Stats.Median(overSocket), Stats.Median(inProcess));
        report.Add(new Row("pty", $"`cat` of a {CatBytes >> 20} MiB file ({LineWidth}-byte lines) through the PTY, MiB/s of file, median of {CatRuns} (daemon: terminal with `command`, WebSocket client until `exit`; baseline: same PTY code in-process until the shell exited)",
            Report.F(socketRate, 0), Report.F(localRate, 0), Report.F(socketRate / localRate) + "×"));
        if (remoteBytes != localBytes)
        {
            report.Note($"pty cat: the WebSocket client received {remoteBytes} bytes, the in-process reader {localBytes} (the PTY turns each \\n into \\r\\n)");
        }
    }

    private static async Task WriteLinesAsync(string path)
    {
        var line = Encoding.ASCII.GetBytes(new string('a', LineWidth - 1) + "\n");
        await using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (long written = 0; written < CatBytes; written += LineWidth)
        {
            await stream.WriteAsync(line);
        }
    }

    /// <summary>Either side: type a key, wait for output, count output to the end.</summary>
    private interface ITerminal : IAsyncDisposable
    {
        ValueTask TypeAsync(byte key);

        /// <summary>Forgets output received so far.</summary>
        void Discard();

        /// <summary>Waits until output received since the last <see cref="Discard"/> contains <paramref name="text"/>.</summary>
        Task WaitForAsync(string text, TimeSpan timeout);

        /// <summary>Waits until output received since the last <see cref="Discard"/> matches <paramref name="pattern"/>.</summary>
        Task WaitForAsync(System.Text.RegularExpressions.Regex pattern, TimeSpan timeout);
    }

    /// <summary>Collects output chunks from a reader thread for the waiting side.</summary>
    private sealed class OutputBuffer
    {
        private readonly Channel<byte[]> _chunks = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
        private readonly StringBuilder _seen = new();

        public void Add(ReadOnlySpan<byte> data) => _chunks.Writer.TryWrite(data.ToArray());

        public void Complete() => _chunks.Writer.TryComplete();

        public void Discard()
        {
            while (_chunks.Reader.TryRead(out _))
            {
            }
            _seen.Clear();
        }

        public Task WaitForAsync(string text, TimeSpan timeout) => WaitForAsync(seen => seen.Contains(text, StringComparison.Ordinal), text, timeout);

        public Task WaitForAsync(System.Text.RegularExpressions.Regex pattern, TimeSpan timeout) => WaitForAsync(pattern.IsMatch, pattern.ToString(), timeout);

        private async Task WaitForAsync(Func<string, bool> found, string what, TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                while (!found(_seen.ToString()))
                {
                    _seen.Append(Encoding.Latin1.GetString(await _chunks.Reader.ReadAsync(cancel.Token)));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
            {
                throw new TimeoutException($"no {JsonSerializer.Serialize(what)} in the terminal's output within {timeout.TotalSeconds} s; it showed {JsonSerializer.Serialize(_seen.ToString())}");
            }
        }

        public async Task<long> CountAsync(Task ended, TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            long bytes = 0;
            var reading = Task.Run(async () =>
            {
                await foreach (var chunk in _chunks.Reader.ReadAllAsync(cancel.Token))
                {
                    bytes += chunk.Length;
                }
            }, cancel.Token);
            await ended.WaitAsync(cancel.Token);
            Complete();
            await reading;
            return bytes;
        }
    }

    /// <summary>A terminal on the daemon: <c>POST /pty</c>, then a WebSocket client of its protocol.</summary>
    private sealed class RemoteTerminal : ITerminal
    {
        private readonly ClientWebSocket _socket;
        private readonly HttpClient _http;
        private readonly string _id;
        private readonly OutputBuffer _output = new();
        private readonly TaskCompletionSource _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Task _receiving;

        private RemoteTerminal(ClientWebSocket socket, HttpClient http, string id)
        {
            (_socket, _http, _id) = (socket, http, id);
            _receiving = Task.Run(ReceiveAsync);
        }

        public static async Task<RemoteTerminal> OpenAsync(DaemonProcess daemon, HttpClient http, string? command)
        {
            var body = JsonSerializer.Serialize(new { cwd = daemon.Work, command });
            using var created = await http.PostAsync("/pty", new StringContent(body, Encoding.UTF8, "application/json"));
            created.EnsureSuccessStatusCode();
            var id = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync())!["session_id"]!;
            var socket = new ClientWebSocket();
            socket.Options.KeepAliveInterval = TimeSpan.Zero;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await socket.ConnectAsync(new Uri($"ws://{daemon.BaseAddress.Authority}/pty/{id}/ws"), timeout.Token);
            return new RemoteTerminal(socket, http, id);
        }

        private async Task ReceiveAsync()
        {
            var buffer = new byte[64 * 1024];
            var channel = (byte)0;
            try
            {
                while (true)
                {
                    var result = await _socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        break;
                    }
                    if (result.MessageType == WebSocketMessageType.Text)
                    {
                        if (Encoding.UTF8.GetString(buffer, 0, result.Count).Contains("\"exit\"", StringComparison.Ordinal))
                        {
                            _exit.TrySetResult();
                        }
                        continue;
                    }
                    var data = buffer.AsSpan(0, result.Count);
                    if (channel == 0 && !data.IsEmpty)
                    {
                        channel = data[0];
                        // A replay (output the shell wrote before this client was connected) starts with its offset.
                        data = data[(channel == 0x03 ? 9 : 1)..];
                    }
                    if (channel is 0x01 or 0x03)
                    {
                        _output.Add(data);
                    }
                    if (result.EndOfMessage)
                    {
                        channel = 0;
                    }
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // The daemon went away, or DisposeAsync aborted the socket: the waits time out and say so.
            }
            finally
            {
                _exit.TrySetResult();
                _output.Complete();
            }
        }

        public async ValueTask TypeAsync(byte key) =>
            await _socket.SendAsync(new byte[] { 0x00, key }, WebSocketMessageType.Binary, true, CancellationToken.None);

        public void Discard() => _output.Discard();

        public Task WaitForAsync(string text, TimeSpan timeout) => _output.WaitForAsync(text, timeout);

        public Task WaitForAsync(System.Text.RegularExpressions.Regex pattern, TimeSpan timeout) => _output.WaitForAsync(pattern, timeout);

        public Task<long> CountUntilExitAsync(TimeSpan timeout) => _output.CountAsync(_exit.Task, timeout);

        public async Task DeleteAsync() => (await _http.DeleteAsync($"/pty/{_id}")).Dispose();

        public async ValueTask DisposeAsync()
        {
            _socket.Abort();
            await _receiving;
            _socket.Dispose();
        }
    }

    /// <summary>The same PTY code in this process: the plugin's shell on a pseudo-terminal, its output read here.</summary>
    private sealed class LocalTerminal : ITerminal, IOutputWriter
    {
        private readonly OutputBuffer _output = new();
        private TerminalProcess? _process;

        public static LocalTerminal Start(string directory, string? command)
        {
            var terminal = new LocalTerminal();
            var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
            var spec = new TerminalSpec { Id = "local", Command = command, WorkingDirectory = directory, Environment = environment };
            terminal._process = TerminalProcess.Start(PtyExecutor.FindBash(environment) ?? "/bin/bash", spec, terminal);
            return terminal;
        }

        public ValueTask WriteAsync(OutputStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            _output.Add(data.Span);
            return ValueTask.CompletedTask;
        }

        public ValueTask TypeAsync(byte key) => _process!.WriteInputAsync(new[] { key }, CancellationToken.None);

        public void Discard() => _output.Discard();

        public Task WaitForAsync(string text, TimeSpan timeout) => _output.WaitForAsync(text, timeout);

        public Task WaitForAsync(System.Text.RegularExpressions.Regex pattern, TimeSpan timeout) => _output.WaitForAsync(pattern, timeout);

        public Task<long> CountUntilExitAsync(TimeSpan timeout) => _output.CountAsync(_process!.Exited, timeout);

        public async ValueTask DisposeAsync()
        {
            _process!.Kill();
            await _process.Exited.WaitAsync(TimeSpan.FromSeconds(10));
            await _process.DisposeAsync();
            _output.Complete();
        }
    }
}

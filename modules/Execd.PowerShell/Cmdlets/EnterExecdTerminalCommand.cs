using System.Collections.Concurrent;
using System.Management.Automation;
using System.Net.WebSockets;
using System.Text;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Attaches to an interactive terminal on the daemon, like ssh.</summary>
/// <remarks>
/// In a console (pwsh in a terminal, nothing piped in or redirected), the local terminal switches to raw mode: every key goes to the remote shell as typed (Ctrl+C included), its output is written to the console as it comes (colors and full-screen programs work), and a change of the window size resizes the remote terminal. Ctrl+] detaches and leaves the terminal running; Enter-ExecdTerminal again reattaches, replaying what was missed. When the remote shell exits, the cmdlet returns and sets $LASTEXITCODE to its exit code.
/// Without a console (pipeline input, redirected input or output, a hosted runspace), each input string is sent as a line, then end-of-file (Ctrl+D), as ssh does with piped input; output is written as text lines, without escape sequences (-Raw: as received). Ctrl+C detaches.
/// By default the last 64 KiB of the terminal's output are replayed first; -Since chooses the offset. Another client already attached is a non-terminating ExecdNotRunning error (HTTP 409) unless -Takeover is given; an unknown terminal is ExecdSessionNotFound.
/// </remarks>
/// <example>
/// <code>New-ExecdTerminal | Enter-ExecdTerminal</code>
/// <para>Creates a terminal and attaches this console to it. Ctrl+] detaches.</para>
/// </example>
/// <example>
/// <code>'make test', 'exit $?' | Enter-ExecdTerminal -Id $t.Id; $LASTEXITCODE</code>
/// <para>Runs two lines in a terminal's shell, prints what it shows, and gives its exit code.</para>
/// </example>
/// <example>
/// <code>Enter-ExecdTerminal $t.Id -Takeover -Since 0</code>
/// <para>Takes the terminal over from another client (which is disconnected with code 4001) and replays all of its output.</para>
/// </example>
[Cmdlet(VerbsCommon.Enter, "ExecdTerminal")]
[OutputType(typeof(string), typeof(ExecdTerminal))]
public sealed class EnterExecdTerminalCommand : ExecdCmdlet
{
    /// <summary>Default replay: enough to redraw a screen or two without flooding a console with a long scrollback.</summary>
    internal const long DefaultReplayBytes = 64 * 1024;

    /// <summary>Ctrl+], as telnet and docker attach use it.</summary>
    private const byte DetachKey = 0x1D;

    private const byte EndOfFile = 0x04;

    private static readonly TimeSpan DetachWait = TimeSpan.FromSeconds(2);

    private readonly List<string> _input = [];
    private bool _piped;

    /// <summary>The terminal's id (session id), or an ExecdTerminal from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("SessionId")]
    [ValidateNotNullOrEmpty]
    public string Id { get; set; } = "";

    /// <summary>Lines to type into the terminal (no console needed); after the last one the cmdlet sends end-of-file. Only strings are typed: other pipeline objects (an ExecdTerminal naming the terminal) are not input.</summary>
    // Objects, not strings: as string[] PowerShell would coerce a piped ExecdTerminal to its type name and type that.
    [Parameter(ValueFromPipeline = true)]
    [AllowEmptyString]
    [AllowNull]
    public PSObject?[]? InputObject { get; set; }

    /// <summary>Replays the terminal's output from this byte offset (0: everything it holds). Default: the last 64 KiB.</summary>
    [Parameter]
    public long? Since { get; set; }

    /// <summary>Takes the terminal over when another client is attached (that client is disconnected with code 4001).</summary>
    [Parameter]
    public SwitchParameter Takeover { get; set; }

    /// <summary>Without a console: writes the output as received (escape sequences and carriage returns kept) instead of clean lines.</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    /// <summary>Writes the terminal's state (ExecdTerminal) when the cmdlet returns.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var item in InputObject ?? [])
        {
            if (item?.BaseObject is string line)
            {
                _piped = true;
                _input.Add(line);
            }
        }
    }

    protected override void EndProcessing() => Guard(Id, () =>
    {
        var status = Wait(c => Client.GetJsonAsync<TerminalStatusDto>("pty/" + System.Uri.EscapeDataString(Id), c));
        var since = Since ?? Math.Max(0, status.OutputOffset - DefaultReplayBytes);
        var console = !_piped && Host.Name == "ConsoleHost" && !Console.IsInputRedirected && !Console.IsOutputRedirected ? RawConsole.Enter() : null;
        TerminalEnd end;
        var detached = false;
        try
        {
            var socket = Wait(c => TerminalSocket.ConnectAsync(Client, Id, since, Takeover, c));
            try
            {
                (end, detached) = console is not null ? Interactive(socket) : Piped(socket);
            }
            finally
            {
                socket.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        finally
        {
            console?.Dispose();
        }
        Finish(end, detached, console is not null);
    });

    /// <summary>Keys in, output out, until the shell exits, the daemon closes, or Ctrl+] detaches.</summary>
    private (TerminalEnd End, bool Detached) Interactive(TerminalSocket socket)
    {
        using var stdout = Console.OpenStandardOutput();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var receive = socket.ReceiveAsync((_, data) =>
        {
            stdout.Write(data.Span);
            stdout.Flush();
        }, () => connected.TrySetResult(), Cancel);
        var detached = false;
        var keys = Task.Factory.StartNew(async () =>
        {
            await Task.WhenAny(connected.Task, receive).ConfigureAwait(false);
            var size = (Columns: 0, Rows: 0);
            var buffer = new byte[4096];
            while (!receive.IsCompleted)
            {
                var now = (Console.WindowWidth, Console.WindowHeight);
                if (now != size && now.WindowWidth > 0 && now.WindowHeight > 0)
                {
                    size = now;
                    await socket.SendResizeAsync(size.Columns, size.Rows, Cancel).ConfigureAwait(false);
                }
                var n = RawConsole.Read(buffer, 100);
                if (n < 0)
                {
                    break; // the local terminal went away: leave the remote one running
                }
                var detach = Array.IndexOf(buffer, DetachKey, 0, n);
                var keep = detach >= 0 ? detach : n;
                if (keep > 0)
                {
                    await socket.SendInputAsync(buffer.AsMemory(0, keep), Cancel).ConfigureAwait(false);
                }
                if (detach >= 0)
                {
                    detached = true;
                    break;
                }
            }
            if (!receive.IsCompleted)
            {
                detached = true;
                await socket.DetachAsync(Cancel).ConfigureAwait(false);
            }
        }, Cancel, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        try
        {
            keys.GetAwaiter().GetResult();
        }
        catch (WebSocketException)
        {
            // The daemon closed while a key was on its way: the receive side says how it ended.
        }
        if (detached)
        {
            // The daemon answers our close; don't wait long for a daemon that stopped answering.
            ((IAsyncResult)receive).AsyncWaitHandle.WaitOne(DetachWait);
            return (receive.IsCompletedSuccessfully ? receive.Result : new TerminalEnd(null, null, WebSocketCloseStatus.NormalClosure, null), true);
        }
        return (Wait(_ => receive), false);
    }

    /// <summary>Pipeline input in, text lines out (written from this thread), until the daemon closes or Ctrl+C.</summary>
    private (TerminalEnd End, bool Detached) Piped(TerminalSocket socket)
    {
        var lines = new ConcurrentQueue<string>();
        var arrived = new SemaphoreSlim(0); // not disposed: a late callback may still release it after Ctrl+C
        var text = new TerminalText();
        var rawDecoder = new UTF8Encoding(false).GetDecoder();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var receive = socket.ReceiveAsync((_, data) =>
        {
            if (Raw)
            {
                var chars = new char[rawDecoder.GetCharCount(data.Span, flush: false)];
                rawDecoder.GetChars(data.Span, chars, flush: false);
                lines.Enqueue(new string(chars));
            }
            else
            {
                text.Add(data.Span).ForEach(lines.Enqueue);
            }
            arrived.Release();
        }, () => connected.TrySetResult(), Cancel);
        var typing = SendInputAsync(socket, connected.Task, receive);
        while (!receive.IsCompleted)
        {
            if (Cancel.IsCancellationRequested)
            {
                throw new PipelineStoppedException(); // Ctrl+C: the socket is closed on the way out, the terminal runs on
            }
            arrived.Wait(TimeSpan.FromMilliseconds(100));
            while (lines.TryDequeue(out var line))
            {
                WriteObject(line);
            }
        }
        var end = Wait(_ => receive);
        while (lines.TryDequeue(out var line))
        {
            WriteObject(line);
        }
        if (!Raw && text.Flush() is { } last)
        {
            WriteObject(last);
        }
        if (typing.Exception?.GetBaseException() is { } failed and not WebSocketException and not OperationCanceledException)
        {
            WriteWarning($"sending input to terminal {Id} failed: {failed.Message}");
        }
        return (end, false);
    }

    /// <summary>The piped lines (or redirected stdin of a console pwsh), then end-of-file; nothing when there is no input.</summary>
    private async Task SendInputAsync(TerminalSocket socket, Task connected, Task receive)
    {
        await Task.WhenAny(connected, receive).ConfigureAwait(false);
        if (receive.IsCompleted)
        {
            return;
        }
        if (_piped)
        {
            foreach (var line in _input)
            {
                await socket.SendInputAsync(Encoding.UTF8.GetBytes(line + "\n"), Cancel).ConfigureAwait(false);
            }
        }
        else if (Host.Name == "ConsoleHost" && Console.IsInputRedirected)
        {
            await using var stdin = Console.OpenStandardInput();
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await stdin.ReadAsync(buffer, Cancel).ConfigureAwait(false)) > 0)
            {
                await socket.SendInputAsync(buffer.AsMemory(0, n), Cancel).ConfigureAwait(false);
            }
        }
        else
        {
            return; // nothing to type: watch the output until the shell exits or Ctrl+C
        }
        await socket.SendInputAsync(new[] { EndOfFile }, Cancel).ConfigureAwait(false);
    }

    private void Finish(TerminalEnd end, bool detached, bool console)
    {
        if (console)
        {
            // Raw output may have left the cursor mid-line.
            Host.UI.WriteLine();
        }
        if (end.Error is { } error)
        {
            WriteError(new ExecdException("ExecdTerminalError", ErrorCategory.InvalidOperation, $"terminal {Id}: {error}").ToErrorRecord(Id));
        }
        if (end.ExitCode is { } code)
        {
            SessionState.PSVariable.Set("global:LASTEXITCODE", code);
            WriteVerbose($"terminal {Id}: the shell exited with {code}");
        }
        else if ((int?)end.CloseStatus == 4001)
        {
            WriteWarning($"terminal {Id} was taken over by another client; it keeps running");
        }
        else if (detached)
        {
            WriteVerbose($"detached from terminal {Id}; it keeps running (Enter-ExecdTerminal {Id} reattaches)");
        }
        else
        {
            WriteWarning($"terminal {Id}: the daemon closed the connection ({(int?)end.CloseStatus} {end.CloseDescription}) without an exit code");
        }
        if (PassThru)
        {
            WriteObject(ExecdTerminal.From(Wait(c => Client.GetJsonAsync<TerminalStatusDto>("pty/" + System.Uri.EscapeDataString(Id), c))));
        }
    }
}

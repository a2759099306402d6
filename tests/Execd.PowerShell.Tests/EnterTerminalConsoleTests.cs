using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Execd.PowerShell.Tests;

/// <summary>
/// Enter-ExecdTerminal attached to a real console: pwsh runs under util-linux <c>script</c>, which gives it a
/// pseudo-terminal of its own, and the test types into that terminal as a user would (raw keys, Ctrl+C, Ctrl+]).
/// </summary>
public sealed class EnterTerminalConsoleTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private const string Script = "/usr/bin/script";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Console_KeysResizeCtrlCAndExit_WorkLikeSsh()
    {
        var id = await CreateTerminalAsync();
        await using var console = await ConsoleSession.StartAsync(fixture.Uri, id);

        await console.WaitForAsync("bash-");                          // the remote prompt
        await console.TypeAsync("echo hi-$((6*7)); stty size\r");
        await console.WaitForAsync("hi-42");
        await console.WaitForAsync("30 100");                         // the local window size, sent as a resize frame
        await console.TypeAsync("sleep 30\r");
        await Task.Delay(500);
        var interrupted = Stopwatch.StartNew();
        await console.TypeAsync("\u0003");                             // raw mode: Ctrl+C is a byte for the remote shell
        await console.TypeAsync("echo after=$?\r");
        await console.WaitForAsync("after=130");
        Assert.True(interrupted.Elapsed < TimeSpan.FromSeconds(20), "Ctrl+C did not interrupt the remote sleep");
        await console.TypeAsync("exit 5\r");
        var output = await console.EndAsync();

        Assert.Contains("LEC=5", output);
        Assert.Contains("isig icanon", output); // stty -a after the cmdlet: the console is back in cooked mode
        Assert.DoesNotContain("-icanon", output);
    }

    [Fact]
    public async Task Console_CtrlRightBracket_DetachesAndTheTerminalRunsOn()
    {
        var id = await CreateTerminalAsync();
        await using (var console = await ConsoleSession.StartAsync(fixture.Uri, id))
        {
            await console.WaitForAsync("bash-");
            await console.TypeAsync("export MARK=kept-$((1+1))\r");
            await Task.Delay(500);
            await console.TypeAsync("\u001d");                         // Ctrl+]
            var output = await console.EndAsync();
            Assert.Contains("LEC=", output);
            Assert.DoesNotContain("-icanon", output);
        }

        JsonObject? status = null;
        for (var i = 0; i < 40 && (status is null || (bool)status["attached"]!); i++)
        {
            await Task.Delay(i == 0 ? 0 : 50); // the daemon lets go of the terminal right after the close handshake
            status = await fixture.Daemon.Client.GetFromJsonAsync<JsonObject>($"/pty/{id}");
        }
        Assert.True((bool)status!["running"]!);
        Assert.False((bool)status["attached"]!);

        // Reattached: the shell kept its state.
        await using var again = await ConsoleSession.StartAsync(fixture.Uri, id);
        await again.WaitForAsync("export MARK=kept");                  // the replay of what the first attach showed
        await again.TypeAsync("echo mark=$MARK; exit 0\r");
        Assert.Contains("mark=kept-2", await again.EndAsync());
    }

    private async Task<string> CreateTerminalAsync()
    {
        using var response = await fixture.Daemon.Client.PostAsync("/pty", JsonContent.Create(new { }));
        response.EnsureSuccessStatusCode();
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>())!["session_id"]!;
    }

    /// <summary><c>script</c> running pwsh with Enter-ExecdTerminal; what the console shows, and a keyboard.</summary>
    private sealed class ConsoleSession : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _screen = new();
        private readonly Task _reading;

        private ConsoleSession(Process process)
        {
            _process = process;
            _reading = Task.Run(async () =>
            {
                var buffer = new char[4096];
                int n;
                while ((n = await process.StandardOutput.ReadAsync(buffer)) > 0)
                {
                    lock (_screen)
                    {
                        _screen.Append(buffer, 0, n);
                    }
                }
            });
        }

        public static async Task<ConsoleSession> StartAsync(string uri, string id)
        {
            Assert.True(File.Exists(Script), $"{Script} (util-linux, Debian package bsdutils) is needed to give pwsh a console");
            var restore = await DotnetCli.RunAsync(TestPaths.Root, ["tool", "restore"], TimeSpan.FromMinutes(5));
            Assert.True(restore.ExitCode == 0, restore.Output);
            // The window is 100×30; after the cmdlet, stty -a shows the console's modes. (sh single quotes: no expansion.)
            var pwsh = $"Import-Module ./execd.psd1; Enter-ExecdTerminal {id} -Uri {uri}; \"LEC=$LASTEXITCODE\"; stty -a";
            var psi = new ProcessStartInfo(Script)
            {
                WorkingDirectory = TestPaths.Root,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var a in (string[])["-qfec", $"stty cols 100 rows 30; exec dotnet pwsh -NoProfile -Command '{pwsh}'", "/dev/null"])
            {
                psi.ArgumentList.Add(a);
            }
            psi.Environment["DOTNET_NOLOGO"] = "1";
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            return new ConsoleSession(Process.Start(psi)!);
        }

        private string Screen
        {
            get
            {
                lock (_screen)
                {
                    return _screen.ToString();
                }
            }
        }

        public async Task WaitForAsync(string text)
        {
            var deadline = Stopwatch.StartNew();
            while (!Screen.Contains(text, StringComparison.Ordinal))
            {
                Assert.True(deadline.Elapsed < Bound && !_process.HasExited, $"no \"{text}\" on the console; it shows: {Screen}");
                await Task.Delay(50);
            }
        }

        public async Task TypeAsync(string keys)
        {
            await _process.StandardInput.WriteAsync(keys);
            await _process.StandardInput.FlushAsync();
        }

        /// <summary>Waits for pwsh to finish; what the console showed.</summary>
        public async Task<string> EndAsync()
        {
            using var cancel = new CancellationTokenSource(Bound);
            await _process.WaitForExitAsync(cancel.Token);
            await _reading;
            return Screen;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }
    }
}

using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Execd.PowerShell.Tests;

/// <summary>The built daemon as a child process: a runspace pool that ran a pipeline must not keep it alive after SIGTERM.</summary>
public sealed partial class ShutdownTests
{
    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    [Fact]
    public async Task Daemon_SigtermAfterAPwshCommand_ExitsWithinSeconds()
    {
        var executable = Path.Combine(Path.GetDirectoryName(TestPaths.PluginsDir.TrimEnd('/'))!, "execd");
        var psi = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var storage = TestPaths.NewDirectory("shutdown-storage");
        // Output storage in a test-owned directory, never the default chain's /tmp, /var/tmp or /dev/shm.
        foreach (var a in new[] { "--port", "0", "--host", "127.0.0.1", "--plugins-dir", TestPaths.PluginsDir,
            "--config", $"Storage:Files:Directories={storage.Combine("files")}", "--config", $"Storage:Tmpfs:Directories={storage.Combine("tmpfs")}" })
        {
            psi.ArgumentList.Add(a);
        }
        using var daemon = Process.Start(psi)!;
        try
        {
            var log = new StringBuilder();
            var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            daemon.OutputDataReceived += (_, e) =>
            {
                lock (log)
                {
                    log.AppendLine(e.Data);
                }
                if (e.Data is not null && Listening().Match(e.Data) is { Success: true } m)
                {
                    address.TrySetResult(m.Groups[1].Value);
                }
            };
            daemon.BeginOutputReadLine();
            daemon.BeginErrorReadLine();
            var uri = await address.Task.WaitAsync(TimeSpan.FromSeconds(30));

            using var client = new HttpClient { BaseAddress = new Uri(uri), Timeout = TimeSpan.FromSeconds(60) };
            using var response = await client.PostAsync("/command", new StringContent("""{"command":"Get-Date -Format yyyy; 'ran'","executor":"pwsh"}"""));
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("\"text\":\"ran\"", body);

            var clock = Stopwatch.StartNew();
            using (var kill = Process.Start("kill", ["-TERM", daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await daemon.WaitForExitAsync(bound.Token);

            Assert.Equal(0, daemon.ExitCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
            lock (log)
            {
                Assert.Contains("PowerShell runspace pool closed", log.ToString());
            }
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill(entireProcessTree: true);
            }
        }
    }
}

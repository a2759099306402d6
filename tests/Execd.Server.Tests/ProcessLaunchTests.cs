using System.Diagnostics;

namespace Execd.Server.Tests;

/// <summary>
/// How commands are launched, reaped and killed (issue 11 findings 3 and 11, the fd 251 part of 12; issue 17 item 4):
/// real daemon, real processes.
/// </summary>
public sealed class ProcessLaunchTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private static string Stdout(StreamResult result) => string.Join("\n", result.Texts("stdout"));

    [Fact]
    public async Task Command_StartsWithNoIgnoredSignals_EmptyMask_AndDefaultSigpipe()
    {
        // The test host (.NET) ignores SIGPIPE itself: commands must not inherit that.
        var result = await _daemon.RunAsync("grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -1 >/dev/null; echo \"PS=${PIPESTATUS[*]}\"");

        var text = Stdout(result);
        Assert.Contains("SigIgn:\t0000000000000000", text);
        Assert.Contains("SigBlk:\t0000000000000000", text);
        Assert.Contains("PS=141 0", text);
    }

    [Fact]
    public async Task Command_KilledBySignal_ReportsMinusOne()
    {
        var result = await _daemon.RunAsync("kill -9 $$", new { background = true });
        var status = await _daemon.WaitFinishedAsync(result.Id!);

        Assert.Equal(-1, (int)status["exit_code"]!);
        Assert.Equal("signal: killed", (string?)status["error"]);
    }

    [Fact]
    public async Task TimedOutCompoundCommand_ShellPrintsNoTerminatedLine()
    {
        // The shell stays the parent of `sleep` (a list, and the capture mode's exit trap): a shell that trapped TERM would survive
        // the group's TERM, reap `sleep` and print "Terminated" on the command's stderr. Upstream's never does.
        var result = await _daemon.RunAsync("sleep 30; echo never", new { timeout = 1000 });

        Assert.DoesNotContain(result.Texts("stderr"), t => t.Contains("Terminated", StringComparison.Ordinal));
        Assert.DoesNotContain("never", result.Texts("stdout"));
    }

    [Fact]
    public async Task Command_ExitStatus137_IsAnExitCodeNotASignal()
    {
        var result = await _daemon.RunAsync("exit 137");
        Assert.Equal(137, result.ExitCode);
    }

    [Fact]
    public async Task Command_StdinIsDevNull_AndOnlyDescriptors0To2AreOpen()
    {
        // The shell execs ls with exactly the descriptors it was started with; ls adds its own directory descriptor (3).
        // (Listing /proc/$$/fd from a pipeline raced with the shell's own pipe descriptors of that pipeline.)
        var result = await _daemon.RunAsync("readlink /proc/self/fd/0; exec ls /proc/self/fd");

        var lines = Stdout(result).Split('\n');
        Assert.Equal("/dev/null", lines[0]);
        Assert.Equal([0, 1, 2, 3], lines.Skip(1).Select(int.Parse).Order());
    }

    [Fact]
    public async Task Command_IsLeaderOfItsOwnSession()
    {
        var result = await _daemon.RunAsync("ps -o pid=,pgid=,sid= -p $$");
        var fields = Stdout(result).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, fields.Length);
        Assert.Equal(fields[0], fields[1]);
        Assert.Equal(fields[0], fields[2]);
    }

    [Theory]
    [InlineData("interrupt")]
    [InlineData("timeout")]
    public async Task Stop_KillsProcessesThatIgnoreTermAndLeftTheGroup(string how)
    {
        // A unique sleep length marks this test's processes: one ignores TERM in the group, one escaped with setsid.
        var tag = 300 + Random.Shared.Next(1_000, 9_000) / 1000.0;
        var marker = tag.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture);
        var command = $"sh -c 'trap \"\" TERM; exec sleep {marker}' & setsid sh -c 'trap \"\" TERM; exec sleep {marker}1' & wait";
        var result = await _daemon.RunAsync(command, how == "timeout" ? new { background = true, timeout = 1000 } : new { background = true });
        var id = result.Id!;
        await WaitUntilAsync(() => Sleepers(marker).Count == 2, "both sleepers started");

        if (how == "interrupt")
        {
            using var response = await _daemon.Client.DeleteAsync($"/command?id={id}");
            Assert.Equal(200, (int)response.StatusCode);
        }
        var status = await _daemon.WaitFinishedAsync(id);

        Assert.Equal(-1, (int)status["exit_code"]!);
        Assert.True((int?)status["killed_processes"] >= 3, status.ToJsonString());
        await WaitUntilAsync(() => Sleepers(marker).Count == 0, "every sleeper killed");
    }

    [Fact]
    public async Task FinishedCommand_LeftoverKeepsRunning_AndCommandCompletes()
    {
        // Policy: processes a command leaves behind are not killed when it ends; it completes when its main process does.
        var marker = "299." + Random.Shared.Next(100, 999);
        var result = await _daemon.RunAsync($"sleep {marker} & echo started");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("started", Stdout(result));
        try
        {
            Assert.Single(Sleepers(marker));
        }
        finally
        {
            foreach (var pid in Sleepers(marker))
            {
                Process.GetProcessById(pid).Kill();
            }
        }
    }

    /// <summary>Processes whose command line is exactly <c>sleep MARKER*</c>, from /proc.</summary>
    internal static List<int> Sleepers(string marker)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                var state = File.ReadAllText(Path.Combine(dir, "stat"));
                if (cmdline is ["sleep", var arg, ..] && arg.StartsWith(marker, StringComparison.Ordinal) && !state[(state.LastIndexOf(')') + 2)..].StartsWith('Z'))
                {
                    pids.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return pids;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new TimeoutException("not reached: " + what);
            }
            await Task.Delay(50);
        }
    }
}

using System.Globalization;
using System.Text.RegularExpressions;

namespace Execd.Storage.Tests;

/// <summary>
/// Issue 14, gap 2: what a command writes after its daemon died and before it ends while no daemon runs is drained by its exit trap into
/// tail files in capture/ and stored by the next daemon; a re-adopting daemon's lock keeps the trap from draining under it; a command
/// whose stdout is a file is never copied; a command run as a uid leaves its real exit code.
/// </summary>
public sealed partial class DurableRecordTests
{
    private static int ReadPid(string pidFile) => int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);

    private static async Task WaitGoneAsync(int pid) =>
        await WaitForAsync(() => Task.FromResult(!File.Exists($"/proc/{pid}/stat") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal)));

    /// <summary>The numbers of the lines <c>PREFIX-N</c> in <paramref name="lines"/>, in log order.</summary>
    private static List<int> Numbers(IEnumerable<string> lines, string prefix) =>
        lines.Where(l => l.StartsWith(prefix + "-", StringComparison.Ordinal)).Select(l => int.Parse(l[(prefix.Length + 1)..], CultureInfo.InvariantCulture)).ToList();

    /// <summary>
    /// Starts <paramref name="command"/> in the background on a child daemon, waits until its stored output satisfies <paramref name="ready"/>,
    /// runs <paramref name="whileRunning"/>, then stops the daemon with <paramref name="signal"/>. Returns the id and what was stored then.
    /// </summary>
    private async Task<(string Id, string Stored)> StartThenStopDaemonAsync(string command, string signal, Func<string, bool> ready,
        object? extra = null, Func<string, Task>? whileRunning = null, params string[] config)
    {
        await using var child = await ChildExecd.StartAsync(_dir, Files, config);
        var run = await child.Client.RunAsync(command, extra ?? new { background = true, timeout = 120_000 });
        Assert.Equal(200, run.Status);
        var id = run.Id!;
        await WaitForAsync(async () => ready(System.Text.Encoding.UTF8.GetString(await child.Client.LogBytesAsync(id))));
        if (whileRunning is not null)
        {
            await whileRunning(id);
        }
        var stored = System.Text.Encoding.UTF8.GetString(await child.Client.LogBytesAsync(id));
        await child.SignalAsync(signal);
        return (id, stored);
    }

    [Theory]
    [InlineData("KILL")]
    [InlineData("TERM")]
    public async Task CommandPrintingAndEndingWhileNoDaemonRuns_EveryLineWrittenAfterTheStopStoredOnceInOrder_Orphaned(string signal)
    {
        var pidFile = _dir.Combine("tail.pid");
        var stopped = _dir.Combine("stopped");
        var count = _dir.Combine("count");
        // Prints a-lines until the daemon is gone, then 400 b-lines and one stderr line with no daemon running, and ends with 7.
        var command = $"echo $$ > {pidFile}; i=0; while [ ! -e {stopped} ]; do i=$((i+1)); echo a-$i; sleep 0.01; done; echo $i > {count};"
            + " j=0; while [ $j -lt 400 ]; do j=$((j+1)); echo b-$j; done; echo err-after >&2; exit 7";
        var (id, storedBefore) = await StartThenStopDaemonAsync(command, signal, log => log.Count(c => c == '\n') >= 20);
        try
        {
            await File.WriteAllTextAsync(stopped, "");
            await WaitGoneAsync(ReadPid(pidFile));
            var capture = Path.Combine(Files, "capture");
            Assert.True(File.Exists(Path.Combine(capture, id + ".stdout-tail")), "the exit trap drained no stdout tail");

            string logs;
            await using (var daemon = await Daemon.StartAsync(Settings()))
            {
                var status = await daemon.Client.StatusAsync(id);
                Assert.Equal("orphaned", (string)status["state"]!);
                Assert.Equal(7, (int)status["exit_code"]!);
                Assert.StartsWith("exit status 7; it ended while no daemon ran", (string)status["error"]!, StringComparison.Ordinal);
                Assert.Contains("is stored", (string)status["error"]!, StringComparison.Ordinal);

                var text = System.Text.Encoding.UTF8.GetString(await daemon.Client.LogBytesAsync(id));
                // What the stopped daemon had stored is there unchanged.
                Assert.StartsWith(storedBefore, text, StringComparison.Ordinal);
                var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
                var a = Numbers(lines, "a");
                var printed = int.Parse(File.ReadAllText(count).Trim(), CultureInfo.InvariantCulture);
                // a-lines: in order, none twice, up to the last one printed; a SIGKILLed daemon may have lost the one chunk it had in hand
                // (known gap 1), a SIGTERMed one none.
                Assert.Equal(a.Distinct().Order(), a);
                Assert.True(a.Count > 0 && a[0] == 1 && a[^1] == printed, $"a-lines {(a.Count == 0 ? "none" : $"{a[0]}..{a[^1]}")}, {printed} printed");
                var gaps = a.Zip(a.Skip(1)).Count(p => p.Second != p.First + 1);
                Assert.True(gaps <= (signal == "KILL" ? 1 : 0), $"{gaps} gaps in the a-lines after a {signal}");
                var storedA = Numbers(storedBefore.Split('\n', StringSplitOptions.RemoveEmptyEntries), "a");
                Assert.True(gaps == 0 || a.Zip(a.Skip(1)).Single(p => p.Second != p.First + 1).First >= storedA[^1], "the gap is after what the daemon had stored");
                // Everything written after the daemon was gone: each once, in order, after the a-lines.
                // (stdout and stderr are separate pipes: where the stderr line lands between stdout's is not defined.)
                Assert.Equal(a.Select(n => $"a-{n}").Concat(Enumerable.Range(1, 400).Select(n => $"b-{n}")), lines.Where(l => l != "err-after"));
                Assert.Single(lines, "err-after");
                // The tail files were consumed; the lock file stays.
                Assert.Equal([".daemon.lock"], Directory.EnumerateFileSystemEntries(capture).Select(Path.GetFileName));
                logs = text;
            }
            // Rewritten with the tails' new segment: a second restart serves the same log and end.
            await using var again = await Daemon.StartAsync(Settings());
            Assert.Equal(logs, System.Text.Encoding.UTF8.GetString(await again.Client.LogBytesAsync(id)));
            Assert.Equal(7, (int)(await again.Client.StatusAsync(id))["exit_code"]!);
        }
        finally
        {
            KillGroup(pidFile);
        }
    }

    [Fact]
    public async Task ReadoptingDaemonRunningWhenTheCommandEnds_HoldsTheLock_TrapDrainsNothing_EveryLineOnce()
    {
        var pidFile = _dir.Combine("held.pid");
        var stopped = _dir.Combine("stopped");
        var end = _dir.Combine("end");
        var command = $"echo $$ > {pidFile}; i=0; while [ ! -e {stopped} ]; do i=$((i+1)); echo a-$i; sleep 0.01; done;"
            + $" while [ ! -e {end} ]; do sleep 0.02; done; j=0; while [ $j -lt 400 ]; do j=$((j+1)); echo b-$j; done; exit 7";
        var (id, _) = await StartThenStopDaemonAsync(command, "TERM", log => log.Count(c => c == '\n') >= 5);
        try
        {
            await File.WriteAllTextAsync(stopped, "");
            await using var daemon = await Daemon.StartAsync(Settings());
            Assert.True((bool)(await daemon.Client.StatusAsync(id))["running"]!);
            // The re-adopting daemon holds the capture lock shared: an exit trap's `flock -n -x` fails, so it drains nothing.
            var lockFile = Path.Combine(Files, "capture", ".daemon.lock");
            using (var probe = System.Diagnostics.Process.Start("flock", ["-n", "-x", lockFile, "true"])!)
            {
                await probe.WaitForExitAsync();
                Assert.Equal(1, probe.ExitCode);
            }
            await File.WriteAllTextAsync(end, "");
            var status = await daemon.Client.WaitFinishedAsync(id);
            Assert.Equal("finished", (string)status["state"]!);
            Assert.Equal(7, (int)status["exit_code"]!);
            var lines = await daemon.Client.LogLinesAsync(id);
            var a = Numbers(lines, "a");
            Assert.Equal(Enumerable.Range(1, a.Count), a);
            Assert.Equal(Enumerable.Range(1, 400), Numbers(lines, "b"));
            Assert.Equal(a.Count + 400, lines.Length);
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(Files, "capture"), id + ".*"));
        }
        finally
        {
            KillGroup(pidFile);
        }
    }

    [Fact]
    public async Task CommandWithRedirectedStdoutEndingWhileNoDaemonRuns_TheFileIsNotCopied_ItsStderrIs()
    {
        var pidFile = _dir.Combine("redirected.pid");
        var stopped = _dir.Combine("stopped");
        var outFile = _dir.Combine("its-own-file.txt");
        var command = $"echo $$ > {pidFile}; echo before; exec >{outFile}; echo in-the-file-1;"
            + $" while [ ! -e {stopped} ]; do sleep 0.02; done; echo in-the-file-2; echo err-after >&2; exit 3";
        var (id, _) = await StartThenStopDaemonAsync(command, "KILL", log => log.Length > 0 && File.Exists(outFile));
        try
        {
            await File.WriteAllTextAsync(stopped, "");
            await WaitGoneAsync(ReadPid(pidFile));
            var capture = Path.Combine(Files, "capture");
            Assert.False(File.Exists(Path.Combine(capture, id + ".stdout-tail")), "a stdout that is a file was drained");
            Assert.True(File.Exists(Path.Combine(capture, id + ".stderr-tail")), "stderr (still the pipe) was not drained");

            await using var daemon = await Daemon.StartAsync(Settings());
            var status = await daemon.Client.StatusAsync(id);
            Assert.Equal("orphaned", (string)status["state"]!);
            Assert.Equal(3, (int)status["exit_code"]!);
            Assert.Equal("before\nerr-after\n", System.Text.Encoding.UTF8.GetString(await daemon.Client.LogBytesAsync(id)));
            Assert.Equal("in-the-file-1\nin-the-file-2\n", File.ReadAllText(outFile));
        }
        finally
        {
            KillGroup(pidFile);
        }
    }

    [RootFact("runs a command as uid 65534 (nobody)")]
    public async Task UidCommandEndingWhileNoDaemonRuns_ReportsItsRealExitCodeAndItsOutput()
    {
        // Files the command (nobody) writes and reads: a directory everyone may write.
        var shared = _dir.Combine("shared");
        Directory.CreateDirectory(shared);
        File.SetUnixFileMode(shared, (UnixFileMode)0x1FF);   // 0777
        var pidFile = Path.Combine(shared, "uid.pid");
        var stopped = Path.Combine(shared, "stopped");
        var command = $"echo $$ > {pidFile}; id -u; while [ ! -e {stopped} ]; do sleep 0.02; done; echo after; echo err-after >&2; exit 9";
        // The storage directory lets the uid through to capture/ with its default mode (0711), made by the daemon.
        var (id, _) = await StartThenStopDaemonAsync(command, "KILL", log => log.Length > 0,
            new { background = true, timeout = 120_000, uid = 65534u, gid = 65534u, cwd = "/" },
            id =>
            {
                // capture/ is not open to everyone: traversable, not listable or writable; the command's own files are made for it.
                var capture = Path.Combine(Files, "capture");
                Assert.Equal((UnixFileMode)0x1C9, File.GetUnixFileMode(capture));   // 0711
                Assert.Equal(65534, Owner(Path.Combine(capture, id + ".exit")));
                return Task.CompletedTask;
            });
        try
        {
            await File.WriteAllTextAsync(stopped, "");
            await WaitGoneAsync(ReadPid(pidFile));
            Assert.Equal("9", File.ReadAllText(Path.Combine(Files, "capture", id + ".exit")));

            await using var daemon = await Daemon.StartAsync(Settings());
            var status = await daemon.Client.StatusAsync(id);
            Assert.Equal("orphaned", (string)status["state"]!);
            Assert.Equal(9, (int)status["exit_code"]!);
            Assert.Equal("65534\nafter\nerr-after\n", System.Text.Encoding.UTF8.GetString(await daemon.Client.LogBytesAsync(id)));
        }
        finally
        {
            KillGroup(pidFile);
        }
    }

    private static int Owner(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return int.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }
}

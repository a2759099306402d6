using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

public sealed class ForegroundCommandTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Fact]
    public async Task Run_Echo_StreamsInitStdoutComplete()
    {
        var result = await _daemon.RunAsync("echo hello; echo world");

        Assert.Equal(200, result.Status);
        Assert.Equal("text/event-stream", result.ContentType);
        var types = result.Events.Select(e => (string)e["type"]!).Where(t => t != "ping").ToList();
        Assert.Equal(["init", "stdout", "stdout", "execution_complete"], types);
        Assert.Equal(["hello", "world"], result.Texts("stdout"));
        Assert.Matches("^[0-9a-f]{32}$", result.Id);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("data: {\"type\":\"init\"", result.Body);
    }

    [Fact]
    public async Task Run_NonZeroExit_SendsErrorWithExitCodeAsString()
    {
        var result = await _daemon.RunAsync("echo before; exit 3");

        Assert.Equal(["before"], result.Texts("stdout"));
        var error = result.Events.Single(e => (string?)e["type"] == "error")["error"]!;
        Assert.Equal("CommandExecError", (string?)error["ename"]);
        Assert.Equal("3", (string?)error["evalue"]);
        Assert.Equal("exit status 3", (string?)error["traceback"]![0]);
        Assert.DoesNotContain(result.Events, e => (string?)e["type"] == "execution_complete");
        Assert.Equal(3, result.ExitCode);
    }

    [Fact]
    public async Task Run_Stderr_IsSeparateFromStdout()
    {
        var result = await _daemon.RunAsync("echo out; echo errline 1>&2");

        Assert.Equal(["out"], result.Texts("stdout"));
        Assert.Equal(["errline"], result.Texts("stderr"));
    }

    [Fact]
    public async Task Run_BlankLines_AreSentAsNewlineText()
    {
        var result = await _daemon.RunAsync(@"printf 'a\n\nb\n\n\nc\n'");

        Assert.Equal(["a", "\n", "b", "\n", "\n", "c"], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_CarriageReturns_SplitLinesAndCrLfCountsOnce()
    {
        var result = await _daemon.RunAsync(@"printf 'line1\nprog 10%%\rprog 20%%\rprog 30%%\nlast\r\nx\r\r'");

        Assert.Equal(["line1", "prog 10%", "prog 20%", "prog 30%", "last", "x", "\n"], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_TrailingPartialLine_IsFlushedAtExit()
    {
        var result = await _daemon.RunAsync(@"printf 'line1\nlastline-without-newline'");

        Assert.Equal(["line1", "lastline-without-newline"], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_HundredThousandLines_ArriveInOrder()
    {
        var result = await _daemon.RunAsync("seq 1 100000");

        var lines = result.Texts("stdout").ToList();
        Assert.Equal(100000, lines.Count);
        for (var i = 0; i < lines.Count; i++)
        {
            Assert.Equal((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), lines[i]);
        }
        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task Run_LongLine_ArrivesWhole()
    {
        var result = await _daemon.RunAsync("head -c 262144 /dev/zero | tr '\\0' x");

        Assert.Equal(new string('x', 262144), Assert.Single(result.Texts("stdout")));
    }

    [Fact]
    public async Task Run_Unicode_RoundTrips()
    {
        var result = await _daemon.RunAsync("echo 'héllo wörld — 日本語 🚀'");

        Assert.Equal(["héllo wörld — 日本語 🚀"], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_InvalidUtf8_BecomesReplacementCharacter()
    {
        var result = await _daemon.RunAsync(@"printf 'a\377b\n'");

        Assert.Equal(["a\uFFFDb"], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_EnvsAndCwd_ReachTheChild()
    {
        using var dir = TestPaths.NewDirectory("cwd");
        var result = await _daemon.RunAsync("pwd; echo \"$GREETING\"", new { cwd = dir.Path, envs = new Dictionary<string, string> { ["GREETING"] = "hi $there" } });

        Assert.Equal([dir.Path, "hi $there"], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_CwdWithVariableFromRequestEnvs_IsExpandedWithThem()
    {
        using var dir = TestPaths.NewDirectory("cwdvar");
        var result = await _daemon.RunAsync("pwd", new { cwd = "$WORKDIR", envs = new Dictionary<string, string> { ["WORKDIR"] = dir.Path } });

        Assert.Equal([dir.Path], result.Texts("stdout"));
    }

    [Fact]
    public async Task Run_Stdin_IsAtEndOfFile()
    {
        var result = await _daemon.RunAsync("cat; echo after-cat", new { timeout = 5000 });

        Assert.Equal(["after-cat"], result.Texts("stdout"));
        Assert.Equal(0, result.ExitCode);
    }

    [Fact]
    public async Task Run_Timeout_KillsTheWholeGroupAndReportsMinusOne()
    {
        using var dir = TestPaths.NewDirectory("timeout");
        var marker = dir.Combine("grandchild-alive");
        var watch = Stopwatch.StartNew();
        // A grandchild that would leave a marker if it survived the group kill.
        var result = await _daemon.RunAsync($"(sleep 3; touch '{marker}') & sleep 30", new { timeout = 500 });
        watch.Stop();

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        var error = result.Events.Single(e => (string?)e["type"] == "error")["error"]!;
        Assert.Equal("-1", (string?)error["evalue"]);
        Assert.StartsWith("signal: ", (string?)error["traceback"]![0]);
        await Task.Delay(3500);
        Assert.False(File.Exists(marker), "a process of the timed-out command survived");
    }

    [Fact]
    public async Task Run_ExitStatusAfterSelfKill_IsReportedAsExitCode()
    {
        var result = await _daemon.RunAsync("exit 7");

        Assert.Equal(7, result.ExitCode);
    }

    [Fact]
    public async Task Run_FiftyConcurrentCommands_AllSucceedWithTheirOwnOutput()
    {
        var tasks = Enumerable.Range(0, 50).Select(i => _daemon.RunAsync($"for j in 1 2 3; do echo cmd{i}-$j; done")).ToArray();
        var results = await Task.WhenAll(tasks);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal([$"cmd{i}-1", $"cmd{i}-2", $"cmd{i}-3"], results[i].Texts("stdout"));
            Assert.Equal(0, results[i].ExitCode);
        }
    }

    [Fact]
    public async Task Run_StatusAfterCompletion_ShowsExitAndTimes()
    {
        var result = await _daemon.RunAsync("exit 4");

        var status = JsonNode.Parse(await _daemon.Client.GetStringAsync($"/command/status/{result.Id}"))!;
        Assert.False((bool)status["running"]!);
        Assert.Equal(4, (int)status["exit_code"]!);
        Assert.Equal("exit status 4", (string?)status["error"]);
        Assert.Equal("exit 4", (string?)status["content"]);
        Assert.True(DateTimeOffset.Parse((string)status["finished_at"]!) >= DateTimeOffset.Parse((string)status["started_at"]!));
    }

    [Fact]
    public async Task Run_AsRootWithUidZero_RunsWithThatUser()
    {
        var result = await _daemon.RunAsync("id -u; id -g", new { uid = 0u, gid = 0u });

        Assert.Equal(["0", "0"], result.Texts("stdout"));
    }
}

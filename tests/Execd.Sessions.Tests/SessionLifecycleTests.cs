using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Execd.Sessions.Tests;

/// <summary>Exit codes, timeouts, interrupts, shells that exit or are killed, deletion, parallel sessions.</summary>
public sealed class SessionLifecycleTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Theory]
    [InlineData("true", 0)]
    [InlineData("false", 1)]
    [InlineData("(exit 7)", 7)]
    [InlineData("sh -c 'exit 42'", 42)]
    public async Task Run_ExitStatus_IsReportedAsUpstream(string command, int expected)
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, command);

        Assert.Equal(expected, run.ExitCode);
        var types = run.Stream.Events.Select(e => (string?)e["type"]).Where(t => t != "ping").ToList();
        Assert.Equal(expected == 0 ? ["init", "execution_complete"] : ["init", "error"], types);
        Assert.Equal(s, run.Stream.Id); // init carries the session id, as upstream
        Assert.Matches("^[0-9a-f]{32}$", run.CommandId);
    }

    [Fact]
    public async Task Run_FalseThenDollarQuestion_SeesOneInsideTheRun()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "false; echo EXIT:$?");

        Assert.Equal(["EXIT:1"], run.Stdout);
        Assert.Equal(0, run.ExitCode);
    }

    [Fact]
    public async Task Run_Exit_EndsTheSessionCleanly_AndTheNextRunIs404()
    {
        var s = await _daemon.CreateAsync();
        var pid = int.Parse((await _daemon.RunInAsync(s, "echo $$")).Stdout.Single());

        var run = await _daemon.RunInAsync(s, "echo before; exit 7");
        var next = await _daemon.RunInAsync(s, "echo never");

        Assert.Equal(["before"], run.Stdout);
        Assert.Equal(7, run.ExitCode);
        Assert.Contains("ended", run.Traceback);
        Assert.Equal(404, next.Status);
        Assert.Equal("CONTEXT_NOT_FOUND", (string?)next.Body!["code"]);
        Assert.Contains("exited with status 7", (string?)next.Body!["message"]);
        Assert.True(await ProcessCheck.GoneWithinAsync(pid, TimeSpan.FromSeconds(2)));
        Assert.DoesNotContain(await _daemon.ListAsync(), e => (string?)e!["id"] == s);
    }

    [Fact]
    public async Task Run_ExecReplacesTheShell_OutputIsCapturedAndTheSessionEnds()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "exec sh -c 'echo replaced; exit 3'");
        var next = await _daemon.RunInAsync(s, "echo never");

        Assert.Equal(["replaced"], run.Stdout);
        Assert.Equal(3, run.ExitCode);
        Assert.Equal(404, next.Status);
    }

    [Fact]
    public async Task Run_Timeout_KillsEverythingWithinASecondAndResetsTheShellClearly()
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "cd /; KEPT=no");

        var clock = Stopwatch.StartNew();
        var run = await _daemon.RunInAsync(s, "sh -c 'echo $$; exec sleep 30' & echo $!; sleep 30; echo after", timeout: 1000);
        clock.Stop();

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(2));
        Assert.Equal(-1, run.ExitCode);
        Assert.Contains("timeout after 1s", run.Traceback);
        Assert.Contains("restarted", run.Traceback);
        Assert.DoesNotContain("after", run.Stdout);
        foreach (var pid in run.Stdout.Select(int.Parse).Distinct())
        {
            Assert.False(ProcessCheck.IsAlive(pid), $"process {pid} of the timed-out run is still alive");
        }
        // The session goes on in the same directory, with a fresh shell (its variables are gone, as the error said).
        var next = await _daemon.RunInAsync(s, "pwd; echo \"kept=${KEPT-reset}\"");
        Assert.Equal(["/", "kept=reset"], next.Stdout);
    }

    [Fact]
    public async Task Run_TimeoutOfABuiltinLoop_StopsIt()
    {
        var s = await _daemon.CreateAsync();

        var clock = Stopwatch.StartNew();
        var run = await _daemon.RunInAsync(s, "while :; do :; done", timeout: 500);

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.4), TimeSpan.FromSeconds(1.5));
        Assert.Equal(-1, run.ExitCode);
        Assert.Equal(0, (await _daemon.RunInAsync(s, "true")).ExitCode);
    }

    [Fact]
    public async Task Run_BackgroundJobOfAnEarlierRun_SurvivesATimeoutOfALaterRun()
    {
        var s = await _daemon.CreateAsync();
        var job = int.Parse((await _daemon.RunInAsync(s, "sleep 60 >/dev/null 2>&1 & echo $!")).Stdout.Single());
        await Task.Delay(50); // a later /proc tick than the job's start

        await _daemon.RunInAsync(s, "sleep 30", timeout: 300);

        Assert.True(ProcessCheck.IsAlive(job));
        await _daemon.DeleteAsync(s);
        Assert.True(await ProcessCheck.GoneWithinAsync(job, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task Interrupt_ByTheRunsCommandId_StopsTheRunAndTheSessionGoesOn()
    {
        var s = await _daemon.CreateAsync();
        using var open = await _daemon.StartRunAsync(s, "sh -c 'echo pid=$$; exec sleep 30'");
        var pid = int.Parse((await open.ReadUntilAsync("pid=", TimeSpan.FromSeconds(10)))[4..]);

        using var interrupt = await _daemon.Client.DeleteAsync($"/command?id={open.CommandId}");
        var result = await open.ReadToEndAsync();

        Assert.Equal(200, (int)interrupt.StatusCode);
        Assert.Equal(-1, result.ExitCode);
        Assert.False(ProcessCheck.IsAlive(pid));
        Assert.Equal(["ok"], (await _daemon.RunInAsync(s, "echo ok")).Stdout);
    }

    [Fact]
    public async Task Run_ShellKilledFromOutsideDuringARun_GivesAClearErrorNotAHang()
    {
        var s = await _daemon.CreateAsync();
        using var open = await _daemon.StartRunAsync(s, "echo pid=$$; sleep 30");
        var pid = int.Parse((await open.ReadUntilAsync("pid=", TimeSpan.FromSeconds(10)))[4..]);

        var clock = Stopwatch.StartNew();
        Process.Start("kill", ["-9", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]).WaitForExit();
        var result = await open.ReadToEndAsync();

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.Equal(-1, result.ExitCode);
        var traceback = (string?)result.Events.Last(e => (string?)e["type"] == "error")["error"]!["traceback"]![0];
        Assert.Contains("killed", traceback);
        Assert.Contains("session has ended", traceback);
        var next = await _daemon.RunInAsync(s, "echo never");
        Assert.Equal(404, next.Status);
        Assert.Contains("killed", (string?)next.Body!["message"]);
    }

    [Fact]
    public async Task Run_ShellKilledFromOutsideWhileIdle_NextRunIsAClear404()
    {
        var s = await _daemon.CreateAsync();
        var pid = int.Parse((await _daemon.RunInAsync(s, "echo $$")).Stdout.Single());

        Process.Start("kill", ["-9", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]).WaitForExit();
        Assert.True(await ProcessCheck.GoneWithinAsync(pid, TimeSpan.FromSeconds(2)));
        var run = await _daemon.RunInAsync(s, "echo never");

        // Either the daemon saw the death first (404) or the run found it (error event); both say what happened.
        if (run.Status == 404)
        {
            Assert.Contains("killed", (string?)run.Body!["message"]);
        }
        else
        {
            Assert.Equal(-1, run.ExitCode);
            Assert.Contains("killed", run.Traceback);
        }
    }

    [Fact]
    public async Task Delete_DuringARun_EndsItWithMinusOneWithinThreeSeconds_AndASecondDeleteIs404()
    {
        var s = await _daemon.CreateAsync();
        using var open = await _daemon.StartRunAsync(s, "echo pid=$$; sleep 30");
        var pid = int.Parse((await open.ReadUntilAsync("pid=", TimeSpan.FromSeconds(10)))[4..]);

        var clock = Stopwatch.StartNew();
        var (status, body) = await _daemon.DeleteAsync(s);
        var result = await open.ReadToEndAsync();

        Assert.Equal(200, status);
        Assert.Equal("", body);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.Equal(-1, result.ExitCode);
        Assert.False(ProcessCheck.IsAlive(pid));
        var (again, againBody) = await _daemon.DeleteAsync(s);
        Assert.Equal(404, again);
        Assert.Equal("CONTEXT_NOT_FOUND", (string?)JsonNode.Parse(againBody)!["code"]);
    }

    [Fact]
    public async Task Delete_Idle_Returns200WithContentLengthZero()
    {
        var s = await _daemon.CreateAsync();

        using var response = await _daemon.Client.DeleteAsync($"/session/{s}");

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Run_TwoRunsInOneSession_AreSerialized()
    {
        var s = await _daemon.CreateAsync();
        var first = _daemon.RunInAsync(s, "echo a > f.txt 2>/dev/null || echo a > /dev/null; X=first; sleep 0.5; X=done");
        await Task.Delay(100);
        var second = await _daemon.RunInAsync(s, "echo \"X=$X\"");

        Assert.Equal(0, (await first).ExitCode);
        Assert.Equal(["X=done"], second.Stdout);
    }

    [Fact]
    public async Task Run_TenSessionsInParallel_NeverMixOutput()
    {
        var sessions = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => _daemon.CreateAsync()));

        var runs = await Task.WhenAll(sessions.Select((s, k) => _daemon.RunInAsync(s,
            $"MINE={k}; for i in $(seq 1 300); do echo s{k}-$i; echo e{k}-$i >&2; done; sleep 0.2")));
        var again = await Task.WhenAll(sessions.Select(s => _daemon.RunInAsync(s, "echo $MINE")));

        for (var k = 0; k < 10; k++)
        {
            Assert.Equal(Enumerable.Range(1, 300).Select(i => $"s{k}-{i}"), runs[k].Stdout);
            Assert.Equal(Enumerable.Range(1, 300).Select(i => $"e{k}-{i}"), runs[k].Stderr);
            Assert.Equal([k.ToString(System.Globalization.CultureInfo.InvariantCulture)], again[k].Stdout);
        }
        Assert.Equal(10, sessions.Distinct().Count());
    }

    [Fact]
    public async Task Run_OutputOfARun_IsInStatusAndLogsByItsCommandId()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "echo out; echo err >&2; exit 0");
        // `exit` ended the session; the run's record stays.
        var status = JsonNode.Parse(await _daemon.Client.GetStringAsync($"/command/status/{run.CommandId}"))!;
        var logs = await _daemon.Client.GetStringAsync($"/command/{run.CommandId}/logs");

        Assert.False((bool)status["running"]!);
        Assert.Equal(0, (int)status["exit_code"]!);
        Assert.Equal("bash-session", (string?)status["executor"]);
        Assert.Contains("out\n", logs);
        Assert.Contains("err\n", logs);
    }

    [Fact]
    public async Task Run_LateOutputOfABackgroundJob_DoesNotLeakIntoTheNextRunsEndMarker()
    {
        var s = await _daemon.CreateAsync();

        var first = await _daemon.RunInAsync(s, "echo first");
        var second = await _daemon.RunInAsync(s, "echo second");

        Assert.Equal(["first"], first.Stdout);
        Assert.Equal(["second"], second.Stdout);
    }

    [Fact]
    public async Task AdminSessions_ListsIdCwdPidTimesAndState()
    {
        var s = await _daemon.CreateAsync("/");
        using var open = await _daemon.StartRunAsync(s, "echo started; sleep 1");
        await open.ReadUntilAsync("started", TimeSpan.FromSeconds(10));

        var running = (await _daemon.ListAsync()).Single(e => (string?)e!["id"] == s)!.AsObject();
        await open.ReadToEndAsync();
        var idle = (await _daemon.ListAsync()).Single(e => (string?)e!["id"] == s)!.AsObject();

        Assert.Equal(["id", "cwd", "pid", "created_at", "last_used_at", "state"], running.Select(p => p.Key));
        Assert.Equal("running", (string?)running["state"]);
        Assert.Equal("idle", (string?)idle["state"]);
        Assert.Equal("/", (string?)idle["cwd"]);
        Assert.True(ProcessCheck.IsAlive((int)idle["pid"]!));
        Assert.True(DateTimeOffset.Parse((string)idle["last_used_at"]!) >= DateTimeOffset.Parse((string)idle["created_at"]!));
    }
}

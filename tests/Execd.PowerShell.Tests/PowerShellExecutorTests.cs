using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace Execd.PowerShell.Tests;

/// <summary>The pwsh executor plugin, loaded by a real daemon from its plugins folder, over HTTP.</summary>
public sealed class PowerShellExecutorTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private Daemon Daemon => fixture.Daemon;

    private Task<StreamResult> Pwsh(string script, object? extra = null)
    {
        var body = extra is null ? new JsonObject() : System.Text.Json.JsonSerializer.SerializeToNode(extra)!.AsObject();
        body["executor"] = "pwsh";
        body["command"] = script;
        return Daemon.RunJsonAsync(body.ToJsonString());
    }

    [Fact]
    public async Task Pwsh_Objects_AreRenderedAsTextLinesOnStdout()
    {
        var r = await Pwsh("'a'; 1 + 1; Get-Date -Year 2000 -Format yyyy; [pscustomobject]@{ Name = 'n1'; Size = 5 } | Format-Table -AutoSize");

        Assert.Equal(200, r.Status);
        var lines = r.Texts("stdout").Select(t => t.TrimEnd()).Where(t => t.Length > 0).ToList();
        Assert.Equal(["a", "2", "2000", "Name Size", "---- ----", "n1      5"], lines);
        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public async Task Pwsh_ErrorAndWarningStreams_GoToStderr()
    {
        var r = await Pwsh("Write-Error 'bad thing'; Write-Warning 'careful'; 'after'");

        Assert.Equal(["bad thing", "WARNING: careful"], r.Texts("stderr"));
        Assert.Equal(["after"], r.Texts("stdout"));
        Assert.Equal(0, r.ExitCode);
    }

    [Theory]
    [InlineData("'fine'", 0)]
    [InlineData("exit 3", 3)]
    [InlineData("'before'; exit 7; 'after'", 7)]
    [InlineData("throw 'boom'", 1)]
    [InlineData("$ErrorActionPreference = 'Stop'; Get-Item /no/such/path", 1)]
    [InlineData("bash -c 'exit 5'", 5)]
    public async Task Pwsh_ExitCode_FollowsExitLastExitCodeAndTerminatingErrors(string script, int expected)
    {
        var r = await Pwsh(script);

        Assert.Equal(expected, r.ExitCode);
        Assert.DoesNotContain("after", r.Texts("stdout"));
    }

    [Fact]
    public async Task Pwsh_TerminatingError_ReportsItsMessageOnStderr()
    {
        var r = await Pwsh("throw 'boom'");

        Assert.Contains("boom", r.Texts("stderr"));
    }

    [Fact]
    public async Task Pwsh_ScriptState_DoesNotLeakIntoTheNextScript()
    {
        for (var i = 0; i < 4; i++)
        {
            await Pwsh("$leak = 42; function Leaky { 'x' }; Set-Location /");
        }

        var r = await Pwsh("\"[$leak]\"; (Get-Command Leaky -ErrorAction SilentlyContinue) -eq $null");

        Assert.Equal(["[]", "True"], r.Texts("stdout"));
    }

    [Fact]
    public async Task Pwsh_WorkingDirectory_IsTheLocation()
    {
        using var dir = TestPaths.NewDirectory("pwsh-loc");

        var r = await Pwsh("(Get-Location).Path", new { cwd = dir.Path });

        Assert.Equal([dir.Path], r.Texts("stdout"));
    }

    [Fact]
    public async Task Pwsh_Timeout_StopsThePipeline()
    {
        var clock = Stopwatch.StartNew();

        var r = await Pwsh("'started'; Start-Sleep -Seconds 30; 'not reached'", new { timeout = 1000 });

        Assert.Equal(["started"], r.Texts("stdout"));
        Assert.Equal(-1, r.ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1) + TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Pwsh_Interrupt_StopsABackgroundScript()
    {
        var started = await Pwsh("Start-Sleep -Seconds 30", new { background = true });
        var id = started.Id!;

        using var interrupt = await Daemon.Client.DeleteAsync($"/command?id={id}");
        var status = JsonNode.Parse(await Daemon.Client.GetStringAsync($"/command/status/{id}"))!;

        Assert.Equal(HttpStatusCode.OK, interrupt.StatusCode);
        Assert.False((bool)status["running"]!);
        Assert.Equal(-1, (int)status["exit_code"]!);
    }

    [Fact]
    public async Task Pwsh_Background_OutputIsInTheLogs()
    {
        var started = await Pwsh("1..3 | ForEach-Object { \"n$_\" }; exit 2", new { background = true });
        var id = started.Id!;
        JsonNode status;
        var deadline = Stopwatch.StartNew();
        do
        {
            await Task.Delay(50);
            status = JsonNode.Parse(await Daemon.Client.GetStringAsync($"/command/status/{id}"))!;
        }
        while ((bool)status["running"]! && deadline.Elapsed < TimeSpan.FromSeconds(30));

        Assert.Equal(2, (int)status["exit_code"]!);
        Assert.Equal("pwsh", (string?)status["executor"]);
        Assert.Equal("n1\nn2\nn3\n", await Daemon.Client.GetStringAsync($"/command/{id}/logs?cursor=0"));
    }

    [Fact]
    public async Task Pwsh_TenConcurrentScripts_EachGetsItsOwnOutputAndExitCode()
    {
        var runs = Enumerable.Range(1, 10).Select(i => Pwsh($"Start-Sleep -Milliseconds 300; 'script {i}'; exit {i}")).ToList();

        var results = await Task.WhenAll(runs);

        for (var i = 1; i <= 10; i++)
        {
            Assert.Equal([$"script {i}"], results[i - 1].Texts("stdout"));
            Assert.Equal(i, results[i - 1].ExitCode);
        }
    }

    [Fact]
    public async Task Pwsh_RunAsUser_IsRejectedAtStart()
    {
        var r = await Pwsh("'x'", new { uid = 0 });

        Assert.Empty(r.Texts("stdout"));
        Assert.Contains(r.Events, e => (string?)e["type"] == "error" && ((string?)e["error"]?["evalue"])!.Contains("cannot switch to another user", StringComparison.Ordinal));
    }
}

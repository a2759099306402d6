using System.Diagnostics;
using System.Management.Automation;

namespace Execd.PowerShell.Tests;

/// <summary>The command cmdlets against a real daemon on loopback, through the imported execd.psd1.</summary>
public sealed class CommandCmdletTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>, IDisposable
{
    private readonly Pwsh _pwsh = new();

    private Pwsh.Result Run(string script, params (string, object?)[] variables) =>
        _pwsh.Run("Connect-Execd $uri | Out-Null\n" + script, [("uri", fixture.Uri), .. variables]);

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void InvokeExecdCommand_Echo_WritesLinesThenResult()
    {
        var r = Run("Invoke-ExecdCommand 'echo hi; echo there'").AssertNoErrors();

        Assert.Equal(["hi", "there"], r.Lines);
        dynamic result = r.Output[^1]!;
        Assert.Equal("ExecdCommandResult", r.Output[^1]!.GetType().Name);
        Assert.Equal(0, result.ExitCode);
        Assert.True(result.Succeeded);
        Assert.Equal(32, result.Id.Length);
    }

    [Fact]
    public void InvokeExecdCommand_NonZeroExit_IsDataNotAnError()
    {
        var r = Run("Invoke-ExecdCommand 'echo out; exit 3'").AssertNoErrors();

        var result = r.Single("ExecdCommandResult");
        Assert.Equal(3, result.ExitCode);
        Assert.False(result.Succeeded);
        Assert.Equal("exit status 3", result.Error);
    }

    [Fact]
    public void InvokeExecdCommand_Stderr_BecomesErrorRecordsInStreamOrder()
    {
        // stdout and stderr are two pipes read by two readers: their relative order is the order the lines arrive in.
        // A full second between lines keeps that order unambiguous on a loaded CI machine (0.2 s was overtaken once).
        var r = Run("Invoke-ExecdCommand 'echo a; sleep 1; echo b >&2; sleep 1; echo c' 2>&1 | ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { 'ERR:' + $_.TargetObject + ':' + $_.FullyQualifiedErrorId } else { $_ } }");

        Assert.Equal(["a", "ERR:b:ExecdStderr,Execd.PowerShell.Cmdlets.InvokeExecdCommandCommand", "c"], r.Lines);
        Assert.Equal(1, r.Single("ExecdCommandResult").ErrorLines);
    }

    [Fact]
    public void InvokeExecdCommand_SlowCommand_WritesEachLineAsItArrives()
    {
        // Each line is stamped when it reaches the next pipeline stage: the first must arrive long before the second.
        var r = Run("Invoke-ExecdCommand 'echo first; sleep 1.5; echo second' | Where-Object { $_ -is [string] } | ForEach-Object { \"$_|$([DateTime]::UtcNow.Ticks)\" }").AssertNoErrors();

        var stamped = r.Lines.Select(l => l.Split('|')).Select(p => (p[0], new DateTime(long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture)))).ToList();
        Assert.Equal(["first", "second"], stamped.Select(s => s.Item1));
        Assert.True(stamped[1].Item2 - stamped[0].Item2 >= TimeSpan.FromSeconds(1), $"lines arrived {stamped[1].Item2 - stamped[0].Item2} apart");
    }

    [Fact]
    public void InvokeExecdCommand_WorkingDirectoryAndEnvironment_ReachTheCommand()
    {
        using var dir = TestPaths.NewDirectory("pwsh-cwd");

        var r = Run("Invoke-ExecdCommand 'pwd; echo $FOO' -WorkingDirectory $dir -Environment @{ FOO = 'bar baz' }", ("dir", dir.Path)).AssertNoErrors();

        Assert.Equal([dir.Path, "bar baz"], r.Lines);
    }

    [Fact]
    public void InvokeExecdCommand_TimeoutSec_StopsTheCommand()
    {
        var clock = Stopwatch.StartNew();

        var r = Run("Invoke-ExecdCommand 'echo started; sleep 30' -TimeoutSec 1").AssertNoErrors();

        Assert.Equal(-1, r.Single("ExecdCommandResult").ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
    }

    [Fact]
    public void InvokeExecdCommand_UnknownExecutor_IsANonTerminatingInvalidArgumentError()
    {
        var r = Run("Invoke-ExecdCommand 'echo x' -Executor nope; 'continued'");

        Assert.Equal(["continued"], r.Lines);
        var error = Assert.Single(r.Errors);
        Assert.Equal("ExecdInvalidRequest,Execd.PowerShell.Cmdlets.InvokeExecdCommandCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, error.CategoryInfo.Category);
        Assert.Contains("unknown executor 'nope'", error.Exception.Message);
    }

    [Fact]
    public void InvokeExecdCommand_PipelineInput_RunsEachCommand()
    {
        var r = Run("'echo one', 'echo two' | Invoke-ExecdCommand").AssertNoErrors();

        Assert.Equal(["one", "two"], r.Lines);
        Assert.Equal(2, r.Of("ExecdCommandResult").Count());
    }

    [Fact]
    public void InvokeExecdCommand_Background_ReturnsCommandThatWaitAndReceiveUse()
    {
        var r = Run("""
            $c = Invoke-ExecdCommand 'echo one; sleep 0.3; echo two; exit 4' -Background
            $c
            $c | Wait-ExecdCommand
            $c | Receive-ExecdCommandOutput
            """).AssertNoErrors();

        var commands = r.Of("ExecdCommand").ToList();
        Assert.Equal(2, commands.Count);
        Assert.Equal((string)commands[0].Id, (string)commands[1].Id);
        Assert.True(commands[0].Background);
        Assert.False(commands[1].Running);
        Assert.Equal(4, commands[1].ExitCode);
        Assert.Equal("Failed", commands[1].State);
        Assert.Equal(["one", "two"], r.Lines);
    }

    [Fact]
    public void ReceiveExecdCommandOutput_Follow_ReadsUntilTheCommandEndsWithProgress()
    {
        var r = Run("Invoke-ExecdCommand 'for i in 1 2 3 4; do echo line$i; sleep 0.4; done' -Background | Receive-ExecdCommandOutput -Follow -PollIntervalMilliseconds 50").AssertNoErrors();

        Assert.Equal(["line1", "line2", "line3", "line4"], r.Lines);
        Assert.Contains(r.Progress, p => p.Activity.StartsWith("Following execd command", StringComparison.Ordinal) && p.RecordType == ProgressRecordType.Processing);
        Assert.Equal(ProgressRecordType.Completed, r.Progress[^1].RecordType);
    }

    [Fact]
    public void ReceiveExecdCommandOutput_RawWithCursor_ReturnsTheRestAndTheNextCursor()
    {
        var r = Run("""
            $c = Invoke-ExecdCommand 'printf abcdef' -Background | Wait-ExecdCommand
            Receive-ExecdCommandOutput -Id $c.Id -Cursor 2 -Raw
            """).AssertNoErrors();

        var chunk = r.Single("ExecdOutputChunk");
        Assert.Equal("cdef", chunk.Text);
        Assert.Equal(2, chunk.Cursor);
        Assert.Equal(6, chunk.NextCursor);
    }

    [Fact]
    public void GetExecdCommand_ByPropertyName_ReadsStatus()
    {
        var r = Run("""
            $c = Invoke-ExecdCommand 'true' -Background
            [pscustomobject]@{ Id = $c.Id } | Wait-ExecdCommand | Out-Null
            [pscustomobject]@{ CommandId = $c.Id } | Get-ExecdCommand
            """).AssertNoErrors();

        var status = r.Single("ExecdCommand");
        Assert.Equal(0, status.ExitCode);
        Assert.Equal("true", status.Command);
        Assert.Equal("shell", status.Executor);
    }

    [Fact]
    public void GetExecdCommand_UnknownId_WritesNotFoundAndGoesOn()
    {
        var r = Run("Get-ExecdCommand 0123456789abcdef, deadbeef; 'continued'");

        Assert.Equal(["continued"], r.Lines);
        Assert.Equal(2, r.Errors.Count);
        Assert.All(r.Errors, e =>
        {
            Assert.Equal("ExecdNotFound,Execd.PowerShell.Cmdlets.GetExecdCommandCommand", e.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ObjectNotFound, e.CategoryInfo.Category);
        });
        Assert.Equal("0123456789abcdef", r.Errors[0].TargetObject);
    }

    [Fact]
    public void StopExecdCommand_WhatIf_LeavesTheCommandRunning()
    {
        var r = Run("""
            $c = Invoke-ExecdCommand 'sleep 30' -Background
            $c | Stop-ExecdCommand -WhatIf
            $c | Get-ExecdCommand
            $c | Stop-ExecdCommand
            """).AssertNoErrors();

        Assert.True(r.Single("ExecdCommand").Running);
    }

    [Fact]
    public void StopExecdCommand_Running_StopsItAndPassesThrough()
    {
        var r = Run("Invoke-ExecdCommand 'sleep 30' -Background | Stop-ExecdCommand -PassThru -Confirm:$false").AssertNoErrors();

        var status = r.Single("ExecdCommand");
        Assert.False(status.Running);
        Assert.Equal(-1, status.ExitCode);
    }

    [Fact]
    public void StopExecdCommand_Finished_WritesNotRunning()
    {
        var r = Run("Invoke-ExecdCommand 'true' -Background | Wait-ExecdCommand | Stop-ExecdCommand");

        var error = Assert.Single(r.Errors);
        Assert.Equal("ExecdNotRunning,Execd.PowerShell.Cmdlets.StopExecdCommandCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidOperation, error.CategoryInfo.Category);
    }

    [Fact]
    public void WaitExecdCommand_Timeout_WritesTimeoutError()
    {
        var r = Run("$c = Invoke-ExecdCommand 'sleep 30' -Background; $c | Wait-ExecdCommand -TimeoutSec 1; $c | Stop-ExecdCommand");

        var error = Assert.Single(r.Errors);
        Assert.Equal("ExecdWaitTimeout,Execd.PowerShell.Cmdlets.WaitExecdCommandCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.OperationTimeout, error.CategoryInfo.Category);
    }

    [Fact]
    public async Task InvokeExecdCommand_StoppedLikeCtrlC_StopsTheRemoteCommand()
    {
        var (shell, output, handle) = _pwsh.Start("Connect-Execd $uri | Out-Null; Invoke-ExecdCommand 'echo started; sleep 30'", ("uri", fixture.Uri));
        using (shell)
        {
            for (var i = 0; i < 200 && output.Count == 0; i++)
            {
                await Task.Delay(50);
            }
            Assert.Equal("started", output[0].BaseObject);
            shell.Stop();
            Assert.True(handle.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10)));
        }
        var running = fixture.Daemon.Services.GetService(typeof(Execd.Core.Commands.CommandService)) as Execd.Core.Commands.CommandService;
        Assert.NotNull(running);
        Assert.DoesNotContain(running.All, c => c.Spec.Command == "echo started; sleep 30" && c.Running);
    }
}

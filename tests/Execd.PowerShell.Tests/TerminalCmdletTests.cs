namespace Execd.PowerShell.Tests;

/// <summary>
/// New-, Get-, Enter- and Remove-ExecdTerminal against a real daemon and its real PTY plugin (issue 13 item 6).
/// A hosted runspace has no console, so Enter-ExecdTerminal runs as it does with piped input: lines in, text out.
/// </summary>
public sealed class TerminalCmdletTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>, IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly TestDirectory _dir = TestPaths.NewDirectory("terminal-cmdlets");

    private Pwsh.Result Run(string script, params (string, object?)[] variables) => Run(_pwsh, script, variables);

    private Pwsh.Result Run(Pwsh pwsh, string script, params (string, object?)[] variables) =>
        pwsh.Run("Connect-Execd $uri | Out-Null\n" + script, [("uri", fixture.Uri), ("dir", _dir.Path), .. variables]);

    public void Dispose()
    {
        _pwsh.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void NewGetEnterRemove_PipedInput_SeesOutputAndExitCode()
    {
        var r = Run("""
            $t = New-ExecdTerminal -WorkingDirectory $dir
            $t
            Get-ExecdTerminal -Id $t.Id
            'echo hi; exit 3' | Enter-ExecdTerminal -Id $t.Id
            "exit=$LASTEXITCODE"
            Get-ExecdTerminal | Where-Object Id -eq $t.Id
            Remove-ExecdTerminal -Id $t.Id -Confirm:$false
            "listed after remove: $(@(Get-ExecdTerminal | Where-Object Id -eq $t.Id).Count)"
            """).AssertNoErrors();

        var terminals = r.Of("ExecdTerminal");
        Assert.Equal(3, terminals.Count);
        var (created, before, after) = (terminals[0], terminals[1], terminals[2]);
        Assert.Equal(created.Id, before.Id);
        Assert.Equal(32 + 4, ((string)created.Id).Length); // a UUID
        Assert.Equal("new", before.State); // the shell starts at the first attach
        Assert.False(before.Running);
        Assert.Contains("hi", r.Lines);
        Assert.Contains("exit=3", r.Lines);
        Assert.Equal("exited", after.State);
        Assert.Equal(3, after.ExitCode);
        Assert.Equal("pty", after.Mode);
        Assert.Equal(_dir.Path, after.Cwd);
        Assert.True((long)after.OutputOffset > 0);
        Assert.Contains("listed after remove: 0", r.Lines);
    }

    [Fact]
    public void Enter_WorkingDirectoryAndCommand_RunInTheTerminal()
    {
        var r = Run("""
            $t = New-ExecdTerminal -WorkingDirectory $dir -Command 'pwd; read -t 1 line; echo "got[$line]"; printf "\033[31mred\033[0m\n"; exit 7'
            $t | Enter-ExecdTerminal -PassThru
            "exit=$LASTEXITCODE"
            $t | Remove-ExecdTerminal -Confirm:$false
            """).AssertNoErrors();

        Assert.Contains(_dir.Path, r.Lines);
        Assert.Contains("got[]", r.Lines); // the piped ExecdTerminal named the terminal; it was not typed into it
        Assert.Contains("red", r.Lines); // escape sequences removed from the text lines
        Assert.Contains("exit=7", r.Lines);
        var state = r.Single("ExecdTerminal");
        Assert.Equal(7, state.ExitCode);
        Assert.False(state.Running);
    }

    [Fact]
    public void Enter_AfterExit_ReplaysAndGetsTheSameExitCode()
    {
        var r = Run("""
            $t = New-ExecdTerminal -WorkingDirectory $dir
            'echo first-attach; exit 4' | Enter-ExecdTerminal -Id $t.Id | Out-Null
            '---'
            Enter-ExecdTerminal -Id $t.Id -Since 0 -Raw
            "exit=$LASTEXITCODE"
            $t | Remove-ExecdTerminal -Confirm:$false
            """).AssertNoErrors();

        var replay = string.Concat(r.Lines.SkipWhile(l => l != "---").Skip(1).TakeWhile(l => !l.StartsWith("exit=", StringComparison.Ordinal)));
        Assert.Contains("first-attach\r\n", replay); // -Raw keeps the terminal's own line endings
        Assert.Contains("exit=4", r.Lines);
    }

    [Fact]
    public void Enter_WhileAnotherClientIsAttached_IsRefusedUnlessTakeover()
    {
        using var other = new Pwsh();
        var id = (string)Run("(New-ExecdTerminal -WorkingDirectory $dir).Id").AssertNoErrors().Lines.Single();
        // The first client watches without input until the shell exits or it loses the terminal.
        var first = other.Start($"Connect-Execd '{fixture.Uri}' | Out-Null; Enter-ExecdTerminal -Id '{id}' 3>&1");
        try
        {
            WaitUntil(() => (bool)Run("(Get-ExecdTerminal -Id $id).Attached", ("id", id)).Output.Single()!);

            var refused = Run("'exit 9' | Enter-ExecdTerminal -Id $id; 'after'", ("id", id));
            var error = Assert.Single(refused.Errors);
            Assert.StartsWith("ExecdNotRunning", error.FullyQualifiedErrorId);
            Assert.Contains("-Takeover", error.ToString());
            Assert.Contains("after", refused.Lines);

            var taken = Run("'echo took-over; exit 5' | Enter-ExecdTerminal -Id $id -Takeover; \"exit=$LASTEXITCODE\"", ("id", id)).AssertNoErrors();
            Assert.Contains("took-over", taken.Lines);
            Assert.Contains("exit=5", taken.Lines);

            Assert.True(first.Handle.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(20)), "the first client did not return after the takeover");
            first.Shell.EndInvoke(first.Handle);
            Assert.Contains(first.Output, o => o.BaseObject?.ToString()?.Contains("taken over", StringComparison.Ordinal) == true);
        }
        finally
        {
            first.Shell.Stop();
            first.Shell.Dispose();
            Run("Remove-ExecdTerminal -Id $id -Confirm:$false -ErrorAction SilentlyContinue", ("id", id));
        }
    }

    [Fact]
    public void UnknownTerminal_EachCmdlet_WritesANotFoundErrorAndGoesOn()
    {
        var r = Run("""
            Get-ExecdTerminal -Id no-such-terminal
            'exit 0' | Enter-ExecdTerminal -Id no-such-terminal
            Remove-ExecdTerminal -Id no-such-terminal -Confirm:$false
            'after'
            """);

        Assert.Null(r.Thrown);
        Assert.Equal(3, r.Errors.Count);
        Assert.All(r.Errors, e =>
        {
            Assert.StartsWith("ExecdSessionNotFound", e.FullyQualifiedErrorId);
            Assert.Contains("no-such-terminal", e.ToString());
            Assert.Equal("no-such-terminal", e.TargetObject);
        });
        Assert.Contains("after", r.Lines);
    }

    [Fact]
    public void NewExecdTerminal_BadWorkingDirectory_IsAnInvalidRequestError()
    {
        using var file = File.Create(_dir.Combine("a-file"));
        var r = Run("New-ExecdTerminal -WorkingDirectory (Join-Path $dir 'a-file'); 'after'");

        var error = Assert.Single(r.Errors);
        Assert.StartsWith("ExecdInvalidRequest", error.FullyQualifiedErrorId);
        Assert.Contains("after", r.Lines);
        Assert.Empty(r.Of("ExecdTerminal"));
    }

    private static void WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            Thread.Sleep(50);
        }
        Assert.True(condition(), "timed out waiting");
    }
}

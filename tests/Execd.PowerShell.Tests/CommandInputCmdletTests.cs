namespace Execd.PowerShell.Tests;

/// <summary>Send-ExecdCommandInput and Invoke-ExecdCommand -Stdin against a real daemon (issue 13 item 5).</summary>
public sealed class CommandInputCmdletTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>, IDisposable
{
    private readonly Pwsh _pwsh = new();

    private Pwsh.Result Run(string script) => _pwsh.Run("Connect-Execd $uri | Out-Null\n" + script, ("uri", fixture.Uri));

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void SendInput_ThenClose_CatEchoesItAndEnds()
    {
        var r = Run("""
            $c = Invoke-ExecdCommand 'cat; echo done' -Background -Stdin
            'hello', 'world' | Send-ExecdCommandInput -Id $c.Id
            Send-ExecdCommandInput -Id $c.Id -Close -PassThru | Out-Null
            $c | Wait-ExecdCommand | Out-Null
            $c | Receive-ExecdCommandOutput
            """).AssertNoErrors();

        Assert.Equal(["hello", "world", "done"], r.Lines);
    }

    [Fact]
    public void SendInput_ToCommandWithoutStdin_IsANonTerminatingError()
    {
        var r = Run("""
            $c = Invoke-ExecdCommand 'sleep 2' -Background
            Send-ExecdCommandInput -Id $c.Id 'x'
            'after'
            """);

        var error = Assert.Single(r.Errors);
        Assert.StartsWith("ExecdNotRunning", error.FullyQualifiedErrorId);
        Assert.Contains("/dev/null", error.ToString());
        Assert.Contains("after", r.Lines);
    }
}

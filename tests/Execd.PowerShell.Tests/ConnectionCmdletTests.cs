using System.Management.Automation;

namespace Execd.PowerShell.Tests;

/// <summary>Where the cmdlets connect to, and what happens when they cannot.</summary>
public sealed class ConnectionCmdletTests : IDisposable
{
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    private const string Nowhere = "http://127.0.0.1:1";
    private readonly Pwsh _pwsh = new();

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void AnyCmdlet_UnreachableDaemon_IsATerminatingConnectionError()
    {
        var r = _pwsh.Run("try { Get-ExecdCommand abc -Uri $nowhere; 'continued' } catch { $_ }", ("nowhere", Nowhere));

        var error = Assert.IsType<ErrorRecord>(Assert.Single(r.Output));
        Assert.Equal("ExecdUnreachable,Execd.PowerShell.Cmdlets.GetExecdCommandCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ConnectionError, error.CategoryInfo.Category);
        Assert.Contains("Cannot reach execd at http://127.0.0.1:1/", error.Exception.Message);
    }

    [Fact]
    public async Task AnyCmdlet_WrongToken_IsATerminatingAuthenticationError()
    {
        await using var daemon = await Daemon.StartAsync(token: "right");

        var r = _pwsh.Run("try { Invoke-ExecdCommand 'echo x' -Uri $uri -AccessToken wrong; 'continued' } catch { $_ }", ("uri", daemon.BaseAddress));

        var error = Assert.IsType<ErrorRecord>(Assert.Single(r.Output));
        Assert.Equal("ExecdUnauthorized,Execd.PowerShell.Cmdlets.InvokeExecdCommandCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.AuthenticationError, error.CategoryInfo.Category);
        Assert.Contains("rejected the access token", error.Exception.Message);
    }

    [Fact]
    public async Task ConnectExecd_WithToken_BecomesTheDefaultOfLaterCmdlets()
    {
        await using var daemon = await Daemon.StartAsync(token: "s3cret");

        var r = _pwsh.Run("Connect-Execd $uri -AccessToken s3cret; Invoke-ExecdCommand 'echo connected'", ("uri", daemon.BaseAddress)).AssertNoErrors();

        var connection = r.Single("ExecdConnection");
        Assert.Equal(daemon.BaseAddress, connection.Uri);
        Assert.True(connection.HasAccessToken);
        Assert.Equal(["connected"], r.Lines);
    }

    [Fact]
    public async Task ConnectExecd_WrongToken_FailsAndKeepsThePreviousConnection()
    {
        await using var daemon = await Daemon.StartAsync(token: "s3cret");

        var r = _pwsh.Run("""
            Connect-Execd $uri -AccessToken s3cret | Out-Null
            try { Connect-Execd $uri -AccessToken wrong } catch { $_.FullyQualifiedErrorId }
            Invoke-ExecdCommand 'echo still'
            """, ("uri", daemon.BaseAddress));

        Assert.Equal(["ExecdUnauthorized,Execd.PowerShell.Cmdlets.ConnectExecdCommand", "still"], r.Lines);
    }

    [Fact]
    public void TestExecd_Unreachable_ReportsInsteadOfFailing()
    {
        var r = _pwsh.Run("Test-Execd -Uri $nowhere; Test-Execd -Uri $nowhere -Quiet", ("nowhere", Nowhere)).AssertNoErrors();

        var result = r.Single("ExecdTestResult");
        Assert.False(result.Reachable);
        Assert.False(result.Authorized);
        Assert.Contains("Cannot reach", result.Message);
        Assert.False(r.Single<bool>());
    }

    [Fact]
    public async Task TestExecd_WrongToken_ReachableButNotAuthorized()
    {
        await using var daemon = await Daemon.StartAsync(token: "right");

        var result = _pwsh.Run("Test-Execd -Uri $uri -AccessToken wrong", ("uri", daemon.BaseAddress)).AssertNoErrors().Single("ExecdTestResult");

        Assert.True(result.Reachable);
        Assert.False(result.Authorized);
    }

    [Fact]
    public async Task TestExecd_Running_IsReachableWithLatency()
    {
        await using var daemon = await Daemon.StartAsync();

        var result = _pwsh.Run("Test-Execd -Uri $uri", ("uri", daemon.BaseAddress)).AssertNoErrors().Single("ExecdTestResult");

        Assert.True(result.Reachable);
        Assert.True(result.Authorized);
        Assert.NotNull(result.Latency);
    }

    [Fact]
    public async Task GetExecdPlugin_Name_FiltersByWildcard()
    {
        await using var daemon = await Daemon.StartAsync();

        var r = _pwsh.Run("Get-ExecdPlugin -Uri $uri -Name '*PowerShell'", ("uri", daemon.BaseAddress)).AssertNoErrors();

        var plugin = r.Single("ExecdPlugin");
        Assert.Equal("Execd.Executors.PowerShell", plugin.Name);
        // Activated by its first pwsh command; until then Loaded, with the executor it declared.
        Assert.Equal("Loaded", plugin.Status);
        Assert.Contains("ICommandExecutor: pwsh (activated on first use)", plugin.Contributes);
    }
}

/// <summary>Tests that change the process environment run alone (the variables are process-wide).</summary>
[CollectionDefinition(nameof(ProcessEnvironment), DisableParallelization = true)]
public sealed class ProcessEnvironment;

[Collection(nameof(ProcessEnvironment))]
public sealed class EnvironmentDefaultsTests
{
    [Fact]
    public async Task AnyCmdlet_NoUriOrConnect_UsesExecdUriAndTokenFromTheEnvironment()
    {
        await using var daemon = await Daemon.StartAsync(token: "from-env");
        using var pwsh = new Pwsh();
        Environment.SetEnvironmentVariable("EXECD_URI", daemon.BaseAddress.ToString());
        Environment.SetEnvironmentVariable("EXECD_ACCESS_TOKEN", "from-env");
        try
        {
            var r = pwsh.Run("Invoke-ExecdCommand 'echo env'").AssertNoErrors();

            Assert.Equal(["env"], r.Lines);
        }
        finally
        {
            Environment.SetEnvironmentVariable("EXECD_URI", null);
            Environment.SetEnvironmentVariable("EXECD_ACCESS_TOKEN", null);
        }
    }
}

using System.Management.Automation;

namespace Execd.PowerShell.Tests;

/// <summary>
/// Cmdlets over endpoints the storage, health and sessions work adds (GET /admin/storage, GET /healthz,
/// /session): these pass once those endpoints are in the daemon.
/// </summary>
public sealed class AdminAndSessionCmdletTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>, IDisposable
{
    private readonly Pwsh _pwsh = new();

    private Pwsh.Result Run(string script, params (string, object?)[] variables) =>
        _pwsh.Run("Connect-Execd $uri | Out-Null\n" + script, [("uri", fixture.Uri), .. variables]);

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void GetExecdStorageProvider_Ranking_IsInRankOrderAndFormatsAsATable()
    {
        // Wide enough for the test daemon's storage directories, which sit deep below the test's bin folder.
        var r = Run("$p = Get-ExecdStorageProvider; $p; $p | Format-Table | Out-String -Width 400").AssertNoErrors();

        var providers = r.Of("ExecdStorageProvider").ToList();
        Assert.NotEmpty(providers);
        Assert.Equal(Enumerable.Range(1, providers.Count), providers.Select(p => (int)p.Rank));
        Assert.Contains(providers, p => p.Kind == "memory");
        Assert.All(providers, p => Assert.Contains(p.Status, new[] { "Healthy", "Degraded", "Unhealthy" }));
        var table = r.Lines.Single();
        Assert.Contains("Rank", table);
        Assert.Contains("Status", table);
        Assert.Contains(providers[0].Name, table);
    }

    [Fact]
    public void GetExecdStorageProvider_Name_FiltersByWildcard()
    {
        var r = Run("Get-ExecdStorageProvider -Name 'mem*'").AssertNoErrors();

        Assert.All(r.Of("ExecdStorageProvider"), p => Assert.StartsWith("mem", p.Name, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void GetExecdHealth_Report_HasStatusAndEntries()
    {
        var report = Run("Get-ExecdHealth").AssertNoErrors().Single("ExecdHealthReport");

        Assert.Contains(report.Status, new[] { "Healthy", "Degraded", "Unhealthy" });
        IEnumerable<dynamic> entries = report.Entries;
        Assert.NotEmpty(entries);
        Assert.All(entries, e => Assert.False(string.IsNullOrEmpty((string)e.Name)));
    }

    [Fact]
    public void TestExecd_WithHealthEndpoint_IncludesTheHealthSummary()
    {
        var result = Run("Test-Execd").AssertNoErrors().Single("ExecdTestResult");

        Assert.Contains(result.Health, new[] { "Healthy", "Degraded", "Unhealthy" });
    }

    [Fact]
    public void Sessions_NewInvokeGetRemove_KeepStateBetweenCommands()
    {
        using var dir = TestPaths.NewDirectory("pwsh-session");

        var r = Run("""
            $s = New-ExecdSession -WorkingDirectory $dir
            $s | Invoke-ExecdSessionCommand 'export GREETING=hello; cd sub 2>/dev/null || mkdir sub && cd sub'
            $s | Invoke-ExecdSessionCommand 'echo $GREETING; pwd'
            Get-ExecdSession -Id $s.Id
            $s | Remove-ExecdSession -Confirm:$false
            @(Get-ExecdSession | Where-Object Id -eq $s.Id).Count
            """, ("dir", dir.Path)).AssertNoErrors();

        Assert.Equal(["hello", Path.Combine(dir.Path, "sub")], r.Lines);
        Assert.All(r.Of("ExecdCommandResult"), c => Assert.Equal(0, c.ExitCode));
        var listed = r.Single("ExecdSession");
        Assert.Equal("idle", listed.State);
        Assert.Equal(0, r.Output.OfType<int>().Last());
    }

    [Fact]
    public void RemoveExecdSession_WhatIf_KeepsTheSession()
    {
        var r = Run("""
            $s = New-ExecdSession
            $s | Remove-ExecdSession -WhatIf
            @(Get-ExecdSession -Id $s.Id).Count
            $s | Remove-ExecdSession -Confirm:$false
            """).AssertNoErrors();

        Assert.Equal(1, r.Single<int>());
    }

    [Fact]
    public void RemoveExecdSession_Unknown_WritesSessionNotFound()
    {
        var r = Run("Remove-ExecdSession -SessionId 0123456789abcdef -Confirm:$false; 'continued'");

        Assert.Equal(["continued"], r.Lines);
        var error = Assert.Single(r.Errors);
        Assert.Equal("ExecdSessionNotFound,Execd.PowerShell.Cmdlets.RemoveExecdSessionCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
    }

    [Fact]
    public void InvokeExecdSessionCommand_UnknownSession_WritesSessionNotFound()
    {
        var r = Run("Invoke-ExecdSessionCommand -SessionId 0123456789abcdef 'echo x'");

        var error = Assert.Single(r.Errors);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
    }
}

namespace Execd.PowerShell.Tests;

/// <summary>The real pwsh from the repository's tool manifest, importing execd.psd1 as the README says.</summary>
public sealed class EndToEndTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    [Fact]
    public async Task RealPwsh_ImportModuleAndInvoke_PrintsTheOutput()
    {
        // CI starts from a clean machine: the test restores the tool itself (a no-op when already restored).
        var restore = await DotnetCli.RunAsync(TestPaths.Root, ["tool", "restore"], TimeSpan.FromMinutes(5));
        Assert.True(restore.ExitCode == 0, restore.Output);

        var run = await DotnetCli.RunAsync(TestPaths.Root, ["pwsh", "-NoProfile", "-NonInteractive", "-Command",
            "Import-Module ./execd.psd1; Invoke-ExecdCommand 'echo hi' | Where-Object { $_ -is [string] }"],
            TimeSpan.FromMinutes(2), new Dictionary<string, string> { ["EXECD_URI"] = fixture.Uri });

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Equal("hi", run.Stdout.Trim());
    }
}

namespace Execd.PowerShell.Tests;

/// <summary>execd.psd1 on a fresh clone, before the binary module is built: the import says what to run.</summary>
public sealed class ManifestTests
{
    [Fact]
    public async Task ImportModule_ModuleNotBuilt_SaysToRunBootstrapInsteadOfAPathError()
    {
        // A copy of the repository's manifest and the source files it names, without the built module; inside the
        // repository (under this test's bin/) so the tool manifest that provides pwsh is found.
        using var clone = TestPaths.NewDirectory("fresh");
        File.Copy(Path.Combine(TestPaths.Root, "execd.psd1"), clone.Combine("execd.psd1"));
        var module = Directory.CreateDirectory(clone.Combine("modules", "Execd.PowerShell")).FullName;
        foreach (var file in new[] { "Assert-ExecdModuleBuilt.ps1", "Execd.PowerShell.format.ps1xml" })
        {
            File.Copy(Path.Combine(TestPaths.Root, "modules", "Execd.PowerShell", file), Path.Combine(module, file));
        }
        var restore = await DotnetCli.RunAsync(TestPaths.Root, ["tool", "restore"], TimeSpan.FromMinutes(5));
        Assert.True(restore.ExitCode == 0, restore.Output);

        var run = await DotnetCli.RunAsync(clone.Path, ["pwsh", "-NoProfile", "-NonInteractive", "-Command",
            "try { Import-Module ./execd.psd1 -ErrorAction Stop; 'imported' } catch { 'error: ' + $_.Exception.Message; exit 3 }"],
            TimeSpan.FromMinutes(2), new Dictionary<string, string> { ["NO_COLOR"] = "1" });

        Assert.True(run.ExitCode == 3, run.Output);
        Assert.Contains("not built yet", run.Stdout);
        Assert.Contains("./bootstrap.sh --build-only", run.Stdout);
        Assert.DoesNotContain("Cannot find path", run.Output);
    }
}

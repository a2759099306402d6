using System.Management.Automation;
using System.Reflection;

namespace Execd.PowerShell.Tests;

/// <summary>The module's conventions: what the manifest exports, verbs, output types, versions, help, formats.</summary>
public sealed class ConventionTests : IDisposable
{
    private readonly Pwsh _pwsh = new();

    public void Dispose() => _pwsh.Dispose();

    private Assembly ModuleAssembly => Assert.IsAssignableFrom<Assembly>(_pwsh.Run("(Get-Module execd).NestedModules.ImplementingAssembly").Output.Single());

    private Type[] CmdletTypes => [.. ModuleAssembly.GetTypes().Where(t => t.GetCustomAttribute<CmdletAttribute>() is not null)];

    private static string CmdletName(Type t) => t.GetCustomAttribute<CmdletAttribute>() is { } a ? $"{a.VerbName}-{a.NounName}" : "";

    [Fact]
    public void Manifest_CmdletsToExport_EqualsTheCmdletTypes()
    {
        var exported = _pwsh.Run("(Import-PowerShellDataFile $path).CmdletsToExport", ("path", Pwsh.ManifestPath)).Lines.Order().ToList();

        Assert.Equal(CmdletTypes.Select(CmdletName).Order(), exported);
        // No fixed count (every feature branch adds cmdlets): the two sets above must match, and the core cmdlets are among them.
        Assert.Contains("Invoke-ExecdCommand", exported);
        Assert.Contains("Invoke-ExecdCode", exported);
        Assert.Contains("Enter-ExecdTerminal", exported);
        Assert.Equal(exported, _pwsh.Run("Get-Command -Module execd | ForEach-Object Name").Lines.Order());
    }

    [Fact]
    public void Cmdlets_Verbs_AreApproved()
    {
        var approved = _pwsh.Run("Get-Verb | ForEach-Object Verb").Lines.ToHashSet();

        Assert.NotEmpty(approved);
        Assert.All(CmdletTypes, t => Assert.Contains(t.GetCustomAttribute<CmdletAttribute>()!.VerbName, approved));
    }

    [Fact]
    public void Cmdlets_EachDeclaresOutputType()
    {
        Assert.All(CmdletTypes, t => Assert.NotEmpty(t.GetCustomAttributes<OutputTypeAttribute>()));
    }

    [Fact]
    public void Manifest_ModuleVersion_EqualsAssemblyVersion()
    {
        var moduleVersion = Assert.IsType<Version>(_pwsh.Run("(Get-Module execd).Version").Output.Single());
        var assemblyVersion = ModuleAssembly.GetName().Version!;

        Assert.Equal(moduleVersion, new Version(assemblyVersion.Major, assemblyVersion.Minor, assemblyVersion.Build));
    }

    [Fact]
    public void GetHelp_EveryCmdlet_HasSynopsisParametersAndAnExample()
    {
        foreach (var name in CmdletTypes.Select(CmdletName))
        {
            var r = _pwsh.Run("""
                $h = Get-Help $name -Full
                $h.Synopsis
                @($h.Examples.Example).Count
                @($h.Parameters.Parameter | Where-Object { $_.Description }).Count
                (Get-Help $name -Examples | Out-String) -match 'EXAMPLE 1|Example 1'
                """, ("name", name));
            var synopsis = Assert.IsType<string>(r.Output[0]);
            Assert.False(string.IsNullOrWhiteSpace(synopsis) || synopsis.StartsWith(name, StringComparison.Ordinal), $"{name}: no synopsis ({synopsis})");
            Assert.True((int)r.Output[1]! >= 1, $"{name}: no example");
            Assert.True((int)r.Output[2]! >= 1, $"{name}: no parameter descriptions");
            Assert.True((bool)r.Output[3]!, $"{name}: Get-Help -Examples shows no example");
        }
    }

    [Fact]
    public void FormatFile_EveryOutputObjectType_HasATableView()
    {
        var outputTypes = CmdletTypes.SelectMany(t => t.GetCustomAttributes<OutputTypeAttribute>()).SelectMany(a => a.Type)
            .Select(t => t.Type).Where(t => t is not null && t.Assembly == ModuleAssembly).Select(t => t!.FullName!).Distinct().ToList();

        foreach (var type in outputTypes.Where(t => !t.EndsWith("ExecdConnection", StringComparison.Ordinal)))
        {
            var views = _pwsh.Run("Get-FormatData -TypeName $t | ForEach-Object { $_.FormatViewDefinition.Control.GetType().Name }", ("t", type)).Lines;
            Assert.True(views.Contains("TableControl"), $"{type} has no table view");
        }
    }
}

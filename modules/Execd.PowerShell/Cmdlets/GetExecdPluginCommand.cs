using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Lists the daemon's plugins: loaded or failed (with the reason), and what each contributes.</summary>
[Cmdlet(VerbsCommon.Get, "ExecdPlugin")]
[OutputType(typeof(ExecdPlugin))]
public sealed class GetExecdPluginCommand : ExecdCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    protected override void ProcessRecord() => Guard(null, () =>
    {
        foreach (var p in Wait(c => Client.GetJsonAsync<PluginDto[]>("admin/plugins", c)).Where(p => Wildcards.Match(Name, p.Name)))
        {
            WriteObject(new ExecdPlugin { Name = p.Name, Version = p.Version, Status = p.Status, Reason = p.Reason, Contributes = p.Contributes ?? [], Path = p.Path });
        }
    });
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Lists the daemon's plugins.</summary>
/// <remarks>Writes one ExecdPlugin per plugin folder: loaded or failed (with the reason), its version, and what it contributes (executors, storage providers).</remarks>
/// <example>
/// <code>Get-ExecdPlugin</code>
/// <para>Lists the plugins as a table.</para>
/// </example>
/// <example>
/// <code>Get-ExecdPlugin | Where-Object Status -eq Failed | Select-Object Name, Reason</code>
/// <para>Shows why plugins failed.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdPlugin")]
[OutputType(typeof(ExecdPlugin))]
public sealed class GetExecdPluginCommand : ExecdCmdlet
{
    /// <summary>Only plugins whose name matches one of these wildcard patterns.</summary>
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

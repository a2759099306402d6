using System.Management.Automation;
using System.Net;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Gets the daemon's health report.</summary>
/// <remarks>Reads GET /healthz: the overall status (Healthy, Degraded or Unhealthy) and every check. An Unhealthy daemon is reported as data, not as an error.</remarks>
/// <example>
/// <code>Get-ExecdHealth</code>
/// <para>Shows the overall status and the checks.</para>
/// </example>
/// <example>
/// <code>(Get-ExecdHealth).Entries | Format-Table</code>
/// <para>Shows every check as a table.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdHealth")]
[OutputType(typeof(ExecdHealthReport))]
public sealed class GetExecdHealthCommand : ExecdCmdlet
{
    protected override void ProcessRecord() => Guard(null, () =>
    {
        // 503 is how the daemon says Unhealthy; its body is the same report.
        var r = Wait(c => Client.GetJsonAsync<HealthReportDto>("healthz", c, HttpStatusCode.ServiceUnavailable));
        WriteObject(new ExecdHealthReport
        {
            Status = r.Status,
            TotalDuration = TimeSpan.FromMilliseconds(r.TotalDurationMs),
            Entries = (r.Entries ?? []).Select(e => new ExecdHealthEntry { Name = e.Key, Status = e.Value.Status, Description = e.Value.Description, Tags = e.Value.Tags ?? [] }).ToArray(),
        });
    });
}

using System.Management.Automation;
using System.Net;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Gets the daemon's health report (GET /healthz): overall status and every check. Unhealthy is data, not an error.</summary>
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

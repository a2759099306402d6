using System.Diagnostics;
using System.Management.Automation;
using System.Net;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Tests whether a daemon answers, accepts the token, and is healthy.</summary>
/// <remarks>Pings the daemon and reads its health summary (GET /healthz). It never fails: an unreachable daemon or a rejected token is reported in the result (Reachable, Authorized, Message). -Quiet writes only $true or $false.</remarks>
/// <example>
/// <code>Test-Execd</code>
/// <para>Shows reachability, latency and health of the default daemon.</para>
/// </example>
/// <example>
/// <code>if (-not (Test-Execd -Uri http://sandbox:44772 -Quiet)) { throw 'execd is down' }</code>
/// <para>Uses the result in a script.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "Execd")]
[OutputType(typeof(ExecdTestResult))]
[OutputType(typeof(bool))]
public sealed class TestExecdCommand : ExecdCmdlet
{
    /// <summary>Writes only $true (reachable, authorized, not Unhealthy) or $false.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void ProcessRecord()
    {
        var result = Probe();
        WriteObject(Quiet ? result.Reachable && result.Authorized && result.Health != "Unhealthy" : result);
    }

    private ExecdTestResult Probe()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            Wait(c => Client.SendAsync(HttpMethod.Get, "ping", c));
        }
        catch (ExecdException ex)
        {
            var reachable = ex.ErrorId != "ExecdUnreachable";
            return new ExecdTestResult { Uri = Client.Uri, Reachable = reachable, Authorized = reachable && ex.ErrorId != "ExecdUnauthorized", Message = ex.Message };
        }
        var latency = clock.Elapsed;
        string? health = null;
        string? message = null;
        try
        {
            health = Wait(c => Client.GetJsonAsync<HealthReportDto>("healthz", c, HttpStatusCode.ServiceUnavailable)).Status;
        }
        catch (ExecdException ex)
        {
            message = "no health summary: " + ex.Message;
        }
        return new ExecdTestResult { Uri = Client.Uri, Reachable = true, Authorized = true, Latency = latency, Health = health, Message = message };
    }
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Starts a bash session: a shell whose working directory and variables carry over between its commands.</summary>
[Cmdlet(VerbsCommon.New, "ExecdSession", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExecdSession))]
public sealed class NewExecdSessionCommand : ExecdCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Cwd")]
    public string? WorkingDirectory { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Client.Uri.ToString(), "Start a session"))
        {
            return;
        }
        Guard(WorkingDirectory, () =>
        {
            var created = Wait(c => Client.SendJsonAsync<SessionCreatedDto>(HttpMethod.Post, "session", new { cwd = WorkingDirectory }, c));
            WriteObject(new ExecdSession { Id = created.SessionId, Cwd = WorkingDirectory, State = "idle" });
        });
    }
}

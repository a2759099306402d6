using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Ends bash sessions.</summary>
[Cmdlet(VerbsCommon.Remove, "ExecdSession", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveExecdSessionCommand : ExecdCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string[] SessionId { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in SessionId)
        {
            if (ShouldProcess($"session {id} on {Client.Uri}", "Remove"))
            {
                Guard(id, () => Wait(c => Client.SendAsync(HttpMethod.Delete, "session/" + System.Uri.EscapeDataString(id), c)));
            }
        }
    }
}

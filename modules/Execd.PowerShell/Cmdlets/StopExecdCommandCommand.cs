using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Interrupts running commands (TERM to the process group, KILL after the grace period).</summary>
[Cmdlet(VerbsLifecycle.Stop, "ExecdCommand", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ExecdCommand))]
public sealed class StopExecdCommandCommand : ExecdCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("CommandId")]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = [];

    /// <summary>Writes the command's status after it stopped.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (!ShouldProcess($"command {id} on {Client.Uri}", "Stop"))
            {
                continue;
            }
            Guard(id, () =>
            {
                Wait(c => Client.SendAsync(HttpMethod.Delete, "command?id=" + System.Uri.EscapeDataString(id), c));
                if (PassThru)
                {
                    WriteObject(ExecdCommand.From(Wait(c => Client.StatusAsync(id, c))));
                }
            });
        }
    }
}

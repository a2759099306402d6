using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Interrupts running commands.</summary>
/// <remarks>Sends the interrupt (TERM to the process group, KILL after a grace period) and returns once the command has ended. Supports -WhatIf and -Confirm. A command that already finished gives a non-terminating ExecdNotRunning error.</remarks>
/// <example>
/// <code>Invoke-ExecdCommand 'sleep 600' -Background | Stop-ExecdCommand -PassThru</code>
/// <para>Starts a command, stops it, and shows its final status (exit code -1).</para>
/// </example>
/// <example>
/// <code>Get-ExecdCommand $id | Stop-ExecdCommand -WhatIf</code>
/// <para>Shows what would be stopped without stopping it.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "ExecdCommand", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ExecdCommand))]
public sealed class StopExecdCommandCommand : ExecdCmdlet
{
    /// <summary>Ids of the commands to stop, from the pipeline or by property name.</summary>
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

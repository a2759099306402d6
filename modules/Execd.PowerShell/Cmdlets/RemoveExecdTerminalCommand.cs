using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Deletes interactive terminals.</summary>
/// <remarks>Kills the terminal's shell (an attached client gets exit -1 and is disconnected) and forgets the terminal. Supports -WhatIf and -Confirm. An unknown terminal gives a non-terminating ExecdSessionNotFound error.</remarks>
/// <example>
/// <code>Get-ExecdTerminal | Where-Object State -eq exited | Remove-ExecdTerminal -Confirm:$false</code>
/// <para>Deletes every terminal whose shell has exited.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExecdTerminal", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveExecdTerminalCommand : ExecdCmdlet
{
    /// <summary>Ids of the terminals to delete, from the pipeline or by property name (Id or SessionId).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("SessionId")]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            if (ShouldProcess($"terminal {id} on {Client.Uri}", "Remove"))
            {
                Guard(id, () => Wait(c => Client.SendAsync(HttpMethod.Delete, "pty/" + System.Uri.EscapeDataString(id), c)));
            }
        }
    }
}

using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Ends bash sessions.</summary>
/// <remarks>Stops the session's shell and forgets the session. Supports -WhatIf and -Confirm. An unknown session gives a non-terminating ExecdSessionNotFound error.</remarks>
/// <example>
/// <code>Get-ExecdSession | Remove-ExecdSession -Confirm:$false</code>
/// <para>Ends every session.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExecdSession", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveExecdSessionCommand : ExecdCmdlet
{
    /// <summary>Ids of the sessions to end, from the pipeline or by property name (Id).</summary>
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

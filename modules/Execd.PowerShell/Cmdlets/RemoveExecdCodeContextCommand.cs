using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Deletes code contexts.</summary>
/// <remarks>Stops the context's kernel (and everything in its process group) and forgets the context. Supports -WhatIf and -Confirm. An unknown context gives a non-terminating error.</remarks>
/// <example>
/// <code>Get-ExecdCodeContext | Remove-ExecdCodeContext -Confirm:$false</code>
/// <para>Deletes every code context.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExecdCodeContext", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveExecdCodeContextCommand : ExecdCmdlet
{
    /// <summary>Ids of the contexts to delete, from the pipeline or by property name (Id).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string[] ContextId { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in ContextId)
        {
            if (ShouldProcess($"code context {id} on {Client.Uri}", "Remove"))
            {
                Guard(id, () => Wait(c => Client.SendAsync(HttpMethod.Delete, "code/contexts/" + System.Uri.EscapeDataString(id), c)));
            }
        }
    }
}

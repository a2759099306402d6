using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Interrupts the cell a code context is running.</summary>
/// <remarks>Sends the kernel an interrupt (as Ctrl+C would): a Python cell ends with KeyboardInterrupt and the context stays usable, with its state.</remarks>
/// <example>
/// <code>$c | Stop-ExecdCode</code>
/// <para>Interrupts what the context is running.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "ExecdCode", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(void))]
public sealed class StopExecdCodeCommand : ExecdCmdlet
{
    /// <summary>Ids of the contexts to interrupt, from the pipeline or by property name (Id).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string[] ContextId { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in ContextId)
        {
            if (ShouldProcess($"code context {id} on {Client.Uri}", "Interrupt"))
            {
                Guard(id, () => Wait(c => Client.SendAsync(HttpMethod.Delete, "code?id=" + System.Uri.EscapeDataString(id), c)));
            }
        }
    }
}

using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Gets the status of commands by id.</summary>
[Cmdlet(VerbsCommon.Get, "ExecdCommand")]
[OutputType(typeof(ExecdCommand))]
public sealed class GetExecdCommandCommand : ExecdCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("CommandId")]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            Guard(id, () => WriteObject(ExecdCommand.From(Wait(c => Client.StatusAsync(id, c)))));
        }
    }
}

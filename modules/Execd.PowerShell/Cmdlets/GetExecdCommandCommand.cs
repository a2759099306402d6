using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Gets the status of commands by id.</summary>
/// <remarks>Writes one ExecdCommand per id: running or not, exit code, timings, executor, and where its output is stored. An unknown id is a non-terminating ExecdNotFound error.</remarks>
/// <example>
/// <code>Get-ExecdCommand 3f2a9c0e5b7d4e1f8a6b2c4d6e8f0a1b</code>
/// <para>Shows the status of one command.</para>
/// </example>
/// <example>
/// <code>$c = Invoke-ExecdCommand 'sleep 5' -Background; $c | Get-ExecdCommand</code>
/// <para>Pipes a command object: the id binds by property name.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdCommand")]
[OutputType(typeof(ExecdCommand))]
public sealed class GetExecdCommandCommand : ExecdCmdlet
{
    /// <summary>Command ids (32 hex characters), from the pipeline or by property name (Id or CommandId).</summary>
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

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Moves or renames files and directories on the daemon's machine.</summary>
/// <remarks>Moves each item (POST /files/mv), creating the destination's parent directories. A -Destination ending in / is a directory the items move into, keeping their names; otherwise it is the new path itself. An existing destination is never overwritten (ExecdInvalidRequest), a missing source gives ExecdItemNotFound. Supports -WhatIf and -Confirm.</remarks>
/// <example>
/// <code>Move-ExecdItem /work/draft.txt /work/final.txt</code>
/// <para>Renames a file.</para>
/// </example>
/// <example>
/// <code>Get-ExecdChildItem /work/in | Move-ExecdItem -Destination /work/done/ -PassThru</code>
/// <para>Moves everything in /work/in into /work/done and shows the moved items.</para>
/// </example>
[Cmdlet(VerbsCommon.Move, "ExecdItem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ExecdItem))]
public sealed class MoveExecdItemCommand : ExecdCmdlet
{
    /// <summary>Absolute paths of the items to move, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>The new absolute path, or a directory to move into when it ends with /.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    /// <summary>Writes each item at its new path.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var path in Path)
        {
            var destination = RemotePath.Target(path, Destination);
            if (!ShouldProcess($"{path} on {Client.Uri}", $"Move to {destination}"))
            {
                continue;
            }
            Guard(path, () =>
            {
                Wait(c => Client.MoveAsync(path, destination, c));
                if (PassThru)
                {
                    WriteObject(Wait(c => Client.InfoAsync(destination, c)));
                }
            });
        }
    }
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Deletes files and directories on the daemon's machine.</summary>
/// <remarks>Deletes files (DELETE /files) and, with -Recurse, directories with everything in them (DELETE /directories). A symbolic link is deleted itself, never what it points to. A missing path gives a non-terminating ExecdItemNotFound error; a directory without -Recurse gives ExecdItemIsDirectory and is left alone. Supports -WhatIf and -Confirm.</remarks>
/// <example>
/// <code>Remove-ExecdItem /work/old.log</code>
/// <para>Deletes one file.</para>
/// </example>
/// <example>
/// <code>Get-ExecdChildItem /work/cache | Remove-ExecdItem -Recurse -WhatIf</code>
/// <para>Shows what emptying /work/cache would delete, without deleting anything.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "ExecdItem", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveExecdItemCommand : ExecdCmdlet
{
    /// <summary>Absolute paths on the daemon's machine, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Also deletes directories, with everything in them.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var path in Path)
        {
            Guard(path, () =>
            {
                // The API deletes a missing path silently (rm -f); Remove-Item users expect to hear about it.
                var item = Wait(c => Client.InfoAsync(path, c));
                if (item.IsDirectory && !Recurse)
                {
                    WriteError(new ErrorRecord(new InvalidOperationException($"{path} is a directory; pass -Recurse to delete it and everything in it."),
                        "ExecdItemIsDirectory", ErrorCategory.InvalidOperation, path));
                    return;
                }
                if (!ShouldProcess($"{item.Type} {path} on {Client.Uri}", "Remove"))
                {
                    return;
                }
                Wait(c => item.IsDirectory ? Client.DeleteDirectoryAsync(path, c) : Client.DeleteFileAsync(path, c));
            });
        }
    }
}

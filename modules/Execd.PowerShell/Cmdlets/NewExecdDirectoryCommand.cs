using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Creates directories on the daemon's machine.</summary>
/// <remarks>Creates each directory and its missing parents, like mkdir -p (POST /directories), with an optional octal mode, owner and group for a directory it creates; an existing directory is left as it is. Writes the directory. A path that exists as a file gives a non-terminating ExecdInvalidRequest error. Supports -WhatIf and -Confirm.</remarks>
/// <example>
/// <code>New-ExecdDirectory /work/build/out</code>
/// <para>Creates /work/build/out and any missing parent.</para>
/// </example>
/// <example>
/// <code>'/srv/a', '/srv/b' | New-ExecdDirectory -Mode 700 -Owner nobody</code>
/// <para>Creates two private directories owned by nobody.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ExecdDirectory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExecdItem))]
public sealed class NewExecdDirectoryCommand : ExecdPermissionsCmdlet
{
    /// <summary>Absolute paths of the directories to create, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var path in Path)
        {
            if (!ShouldProcess($"{path} on {Client.Uri}", "Create directory"))
            {
                continue;
            }
            Guard(path, () =>
            {
                Wait(c => Client.MakeDirectoryAsync(path, WireMode, Owner, Group, c));
                WriteObject(Wait(c => Client.InfoAsync(path, c)));
            });
        }
    }
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Changes the mode, owner or group of files and directories on the daemon's machine.</summary>
/// <remarks>Applies an octal mode (as chmod takes it: 644, 755, 4755), an owner and a group, by name or number (POST /files/permissions). What is not given is left alone. An unknown owner or group gives a non-terminating ExecdInvalidRequest error and changes nothing, a missing path ExecdItemNotFound. Supports -WhatIf and -Confirm.</remarks>
/// <example>
/// <code>Set-ExecdItemPermission /work/run.sh -Mode 755</code>
/// <para>Makes a script executable.</para>
/// </example>
/// <example>
/// <code>Get-ExecdChildItem /work/shared | Set-ExecdItemPermission -Owner nobody -Group nogroup -PassThru</code>
/// <para>Hands everything in /work/shared to nobody:nogroup and shows the result.</para>
/// </example>
[Cmdlet(VerbsCommon.Set, "ExecdItemPermission", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ExecdItem))]
public sealed class SetExecdItemPermissionCommand : ExecdPermissionsCmdlet
{
    /// <summary>Absolute paths on the daemon's machine, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Writes each item after the change.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing()
    {
        if (Mode is null && Owner is null && Group is null)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give -Mode, -Owner or -Group: there is nothing to change."),
                "ExecdNothingToChange", ErrorCategory.InvalidArgument, null));
        }
    }

    protected override void ProcessRecord()
    {
        var change = string.Join(", ", new[] { Mode is null ? null : "mode " + Mode, Owner is null ? null : "owner " + Owner, Group is null ? null : "group " + Group }.OfType<string>());
        foreach (var path in Path)
        {
            if (!ShouldProcess($"{path} on {Client.Uri}", $"Set {change}"))
            {
                continue;
            }
            Guard(path, () =>
            {
                Wait(c => Client.SetPermissionAsync(path, WireMode, Owner, Group, c));
                if (PassThru)
                {
                    WriteObject(Wait(c => Client.InfoAsync(path, c)));
                }
            });
        }
    }
}

using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Base of the cmdlets that set a remote item's mode, owner and group (Send-ExecdFile, New-ExecdDirectory, Set-ExecdItemPermission).</summary>
public abstract class ExecdPermissionsCmdlet : ExecdCmdlet
{
    /// <summary>The permission bits as octal digits, as chmod takes them: 644, 0755, 4755. Not given: the mode is left alone (a new item gets the daemon's default).</summary>
    [Parameter]
    [ValidatePattern(RemotePath.ModePattern)]
    public string? Mode { get; set; }

    /// <summary>The owner, a user name or uid. Not given: left alone.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Owner { get; set; }

    /// <summary>The group, a group name or gid. Not given: left alone.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Group { get; set; }

    /// <summary>The API's mode: the octal digits read as a decimal number ("755" → 755).</summary>
    internal int? WireMode => Mode is null ? null : int.Parse(Mode, System.Globalization.CultureInfo.InvariantCulture);
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Gets files, directories and links on the daemon's machine.</summary>
/// <remarks>Reads each path's metadata (GET /files/info): type (file, directory or symlink; links are not followed), size, octal mode, owner, group and times. Paths are absolute on the daemon's machine (or start with ~). A missing path gives a non-terminating ExecdItemNotFound error.</remarks>
/// <example>
/// <code>Get-ExecdItem /etc/hostname, /work</code>
/// <para>Shows both items as a table.</para>
/// </example>
/// <example>
/// <code>'/work/a.txt', '/work/b.txt' | Get-ExecdItem | Where-Object Size -gt 1MB</code>
/// <para>Paths from the pipeline; keeps the large files.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdItem")]
[OutputType(typeof(ExecdItem))]
public sealed class GetExecdItemCommand : ExecdCmdlet
{
    /// <summary>Absolute paths on the daemon's machine, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var path in Path)
        {
            // One request per path: the API answers 404 for the whole request when any path is missing.
            Guard(path, () => WriteObject(Wait(c => Client.InfoAsync(path, c))));
        }
    }
}

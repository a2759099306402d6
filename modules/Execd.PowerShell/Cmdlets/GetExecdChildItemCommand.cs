using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Lists the contents of directories on the daemon's machine.</summary>
/// <remarks>Lists a directory's entries (GET /directories/list) in lexical order, the directory itself not included. -Depth 2 adds the entries of its subdirectories, each after its parent; -Recurse goes all the way down. Symbolic links are listed, never followed. A path that is a file or a link gives a non-terminating ExecdInvalidRequest error, a missing one ExecdItemNotFound.</remarks>
/// <example>
/// <code>Get-ExecdChildItem /work</code>
/// <para>Lists the immediate children of /work as a table.</para>
/// </example>
/// <example>
/// <code>Get-ExecdChildItem /work -Recurse | Where-Object Type -eq file | Measure-Object Size -Sum</code>
/// <para>Adds up the size of every file below /work.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdChildItem", DefaultParameterSetName = "Depth")]
[OutputType(typeof(ExecdItem))]
public sealed class GetExecdChildItemCommand : ExecdCmdlet
{
    /// <summary>Absolute paths of directories on the daemon's machine, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>How many levels to list: 1 (the default) is the immediate children, 2 adds theirs, and so on.</summary>
    [Parameter(ParameterSetName = "Depth")]
    [ValidateRange(1, int.MaxValue)]
    public int Depth { get; set; } = 1;

    /// <summary>Lists every level below the directory.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Recurse")]
    public SwitchParameter Recurse { get; set; }

    protected override void ProcessRecord()
    {
        var depth = Recurse ? int.MaxValue : Depth;
        foreach (var path in Path)
        {
            Guard(path, () => WriteObject(Wait(c => Client.ListAsync(path, depth, c)), enumerateCollection: true));
        }
    }
}

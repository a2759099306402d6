using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Lists the daemon's code contexts.</summary>
/// <remarks>Writes one ExecdCodeContext per context: id, language, kernel, pid, state (idle, busy or dead) and when it was last used.</remarks>
/// <example>
/// <code>Get-ExecdCodeContext -Language python</code>
/// <para>Lists the Python contexts.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdCodeContext")]
[OutputType(typeof(ExecdCodeContext))]
public sealed class GetExecdCodeContextCommand : ExecdCmdlet
{
    /// <summary>Only these contexts.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ContextId")]
    public string[]? Id { get; set; }

    /// <summary>Only contexts of this language.</summary>
    [Parameter]
    public string? Language { get; set; }

    protected override void ProcessRecord() => Guard(Id, () =>
    {
        var contexts = Wait(c => Client.GetJsonAsync<CodeContextDto[]>("admin/code", c));
        foreach (var x in contexts.Where(x => (Id is null || Id.Contains(x.Id, StringComparer.Ordinal)) && (Language is null || x.Language == Language)))
        {
            WriteObject(From(x));
        }
        foreach (var missing in (Id ?? []).Where(id => !contexts.Any(x => x.Id == id)))
        {
            WriteError(new ExecdException("ExecdCodeContextNotFound", ErrorCategory.ObjectNotFound, $"no code context {missing}").ToErrorRecord(missing));
        }
    });

    internal static ExecdCodeContext From(CodeContextDto x) => new()
    {
        Id = x.Id, Language = x.Language, Kernel = x.Kernel, Pid = x.Pid, State = x.State, DeadReason = x.DeadReason, Cwd = x.Cwd,
        CreatedAt = x.CreatedAt, LastUsedAt = x.LastUsedAt,
    };
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Starts a code context (a Jupyter kernel) on the daemon.</summary>
/// <remarks>A code context is one kernel process whose variables, imports and definitions carry over from one Invoke-ExecdCode to the next. Remove it with Remove-ExecdCodeContext. An unknown language fails with the list of languages the daemon has kernels for.</remarks>
/// <example>
/// <code>$c = New-ExecdCodeContext -Language python; $c | Invoke-ExecdCode 'x = 21'; $c | Invoke-ExecdCode 'x * 2'</code>
/// <para>Starts a Python kernel and runs two cells that share state.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ExecdCodeContext", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExecdCodeContext))]
public sealed class NewExecdCodeContextCommand : ExecdCmdlet
{
    /// <summary>The language (a kernelspec's language, e.g. python).</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Language { get; set; } = "python";

    /// <summary>Directory the kernel starts in (created when missing).</summary>
    [Parameter]
    [Alias("Cwd")]
    public string? WorkingDirectory { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Client.Uri.ToString(), $"Start a {Language} code context"))
        {
            return;
        }
        Guard(Language, () =>
        {
            var created = Wait(c => Client.SendJsonAsync<CodeContextCreatedDto>(HttpMethod.Post, "code/context", new { language = Language, cwd = WorkingDirectory }, c));
            var listed = Wait(c => Client.GetJsonAsync<CodeContextDto[]>("admin/code", c)).FirstOrDefault(x => x.Id == created.Id);
            WriteObject(listed is null ? new ExecdCodeContext { Id = created.Id, Language = created.Language, Cwd = WorkingDirectory } : GetExecdCodeContextCommand.From(listed));
        });
    }
}

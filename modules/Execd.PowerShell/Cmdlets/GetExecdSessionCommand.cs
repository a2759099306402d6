using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Lists the daemon's bash sessions.</summary>
/// <remarks>Writes one ExecdSession per session: id, working directory, shell pid, state (idle or running) and when it was last used.</remarks>
/// <example>
/// <code>Get-ExecdSession</code>
/// <para>Lists all sessions as a table.</para>
/// </example>
/// <example>
/// <code>Get-ExecdSession -Id $s.Id</code>
/// <para>Gets one session.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdSession")]
[OutputType(typeof(ExecdSession))]
public sealed class GetExecdSessionCommand : ExecdCmdlet
{
    /// <summary>Only these sessions.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("SessionId")]
    public string[]? Id { get; set; }

    protected override void ProcessRecord() => Guard(Id, () =>
    {
        var sessions = Wait(c => Client.GetJsonAsync<SessionDto[]>("admin/sessions", c));
        foreach (var s in sessions.Where(s => Id is null || Id.Contains(s.Id, StringComparer.Ordinal)))
        {
            WriteObject(new ExecdSession { Id = s.Id, Cwd = s.Cwd, Pid = s.Pid, State = s.State, CreatedAt = s.CreatedAt, LastUsedAt = s.LastUsedAt });
        }
        foreach (var missing in (Id ?? []).Where(id => !sessions.Any(s => s.Id == id)))
        {
            WriteError(new ExecdException("ExecdSessionNotFound", ErrorCategory.ObjectNotFound, $"no session {missing}").ToErrorRecord(missing));
        }
    });
}

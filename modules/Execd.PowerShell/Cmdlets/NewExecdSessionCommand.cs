using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Starts a bash session on the daemon.</summary>
/// <remarks>A session is one bash process whose working directory, variables and functions carry over from one Invoke-ExecdSessionCommand to the next. Remove it with Remove-ExecdSession.</remarks>
/// <example>
/// <code>$s = New-ExecdSession -WorkingDirectory /src; $s | Invoke-ExecdSessionCommand 'cd build &amp;&amp; pwd'</code>
/// <para>Starts a session in /src and runs a command in it.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ExecdSession", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExecdSession))]
public sealed class NewExecdSessionCommand : ExecdCmdlet
{
    /// <summary>Directory the session starts in.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Cwd")]
    public string? WorkingDirectory { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Client.Uri.ToString(), "Start a session"))
        {
            return;
        }
        Guard(WorkingDirectory, () =>
        {
            var created = Wait(c => Client.SendJsonAsync<SessionCreatedDto>(HttpMethod.Post, "session", new { cwd = WorkingDirectory }, c));
            WriteObject(new ExecdSession { Id = created.SessionId, Cwd = WorkingDirectory, State = "idle" });
        });
    }
}

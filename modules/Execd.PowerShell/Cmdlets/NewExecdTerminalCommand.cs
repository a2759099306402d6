using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Creates an interactive terminal (a /pty session) on the daemon.</summary>
/// <remarks>The terminal's shell (bash --norc --noprofile, or bash -c with -Command) starts when a client first attaches, for example with Enter-ExecdTerminal. A bad working directory is a non-terminating ExecdInvalidRequest error; too many terminals is ExecdRequestFailed (HTTP 429). Remove the terminal with Remove-ExecdTerminal.</remarks>
/// <example>
/// <code>$t = New-ExecdTerminal -WorkingDirectory /src; $t | Enter-ExecdTerminal</code>
/// <para>Creates a terminal in /src and attaches this console to it (Ctrl+] detaches and leaves it running).</para>
/// </example>
/// <example>
/// <code>New-ExecdTerminal -Command 'top'</code>
/// <para>Creates a terminal that runs top instead of an interactive shell.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ExecdTerminal", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExecdTerminal))]
public sealed class NewExecdTerminalCommand : ExecdCmdlet
{
    /// <summary>Directory the shell starts in (created when missing; ~ and $VAR are expanded by the daemon).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Cwd")]
    public string? WorkingDirectory { get; set; }

    /// <summary>A command line the terminal runs with bash -c instead of an interactive shell.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Command { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess(Client.Uri.ToString(), "Create a terminal"))
        {
            return;
        }
        Guard(WorkingDirectory, () =>
        {
            var created = Wait(c => Client.SendJsonAsync<SessionCreatedDto>(HttpMethod.Post, "pty", new { cwd = WorkingDirectory, command = Command }, c));
            WriteObject(new ExecdTerminal { Id = created.SessionId, Cwd = WorkingDirectory, Command = Command });
        });
    }
}

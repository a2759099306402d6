using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Gets the daemon's interactive terminals.</summary>
/// <remarks>Without -Id, lists every terminal (GET /admin/pty). With ids, gets each one (GET /pty/{id}); an unknown id is a non-terminating ExecdSessionNotFound error. Each ExecdTerminal says whether its shell runs, its exit code once it exited, how much output it holds (OutputOffset, what -Since of Enter-ExecdTerminal counts in) and whether a client is attached.</remarks>
/// <example>
/// <code>Get-ExecdTerminal</code>
/// <para>Lists all terminals as a table.</para>
/// </example>
/// <example>
/// <code>$t | Get-ExecdTerminal | Select-Object Running, ExitCode</code>
/// <para>Gets one terminal's state.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdTerminal")]
[OutputType(typeof(ExecdTerminal))]
public sealed class GetExecdTerminalCommand : ExecdCmdlet
{
    /// <summary>Only these terminals (session ids), from the pipeline or by property name (Id or SessionId).</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("SessionId")]
    [ValidateNotNullOrEmpty]
    public string[]? Id { get; set; }

    protected override void ProcessRecord()
    {
        if (Id is null)
        {
            Guard(null, () =>
            {
                var listing = Wait(c => Client.GetJsonAsync<TerminalListingDto>("admin/pty", c));
                foreach (var s in listing.Sessions ?? [])
                {
                    WriteObject(ExecdTerminal.From(s));
                }
            });
            return;
        }
        foreach (var id in Id)
        {
            Guard(id, () => WriteObject(ExecdTerminal.From(Wait(c => Client.GetJsonAsync<TerminalStatusDto>("pty/" + System.Uri.EscapeDataString(id), c)))));
        }
    }
}

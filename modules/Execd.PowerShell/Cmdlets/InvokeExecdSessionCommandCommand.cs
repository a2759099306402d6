using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Runs a command in a bash session and streams its output.</summary>
/// <remarks>Like Invoke-ExecdCommand in the foreground: stdout lines as strings, stderr lines as error records, then an ExecdCommandResult. State (directory, variables) stays in the session for its next command.</remarks>
/// <example>
/// <code>$s = New-ExecdSession; $s | Invoke-ExecdSessionCommand 'export X=1'; $s | Invoke-ExecdSessionCommand 'echo $X'</code>
/// <para>The second command sees the variable the first one set.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "ExecdSessionCommand")]
[OutputType(typeof(string), typeof(ExecdCommandResult))]
public sealed class InvokeExecdSessionCommandCommand : ExecdCmdlet
{
    /// <summary>The session id, by property name (Id or SessionId) from New-ExecdSession or Get-ExecdSession.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string SessionId { get; set; } = "";

    /// <summary>The bash command to run in the session.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    /// <summary>Directory to run this command in (the session keeps its own otherwise).</summary>
    [Parameter]
    public string? WorkingDirectory { get; set; }

    /// <summary>Stops the command after this many seconds.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue / 1000)]
    public int TimeoutSec { get; set; }

    protected override void ProcessRecord()
    {
        var body = new { command = Command, cwd = WorkingDirectory, timeout = TimeoutSec > 0 ? TimeoutSec * 1000L : (long?)null };
        Guard(SessionId, () => CommandStream.RunForeground(this,
            Client.Request(HttpMethod.Post, $"session/{System.Uri.EscapeDataString(SessionId)}/run", body), "session", SessionId));
    }
}

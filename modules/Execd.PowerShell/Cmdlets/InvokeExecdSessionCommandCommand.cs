using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Runs a command in a bash session and streams its output, like Invoke-ExecdCommand.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "ExecdSessionCommand")]
[OutputType(typeof(string), typeof(ExecdCommandResult))]
public sealed class InvokeExecdSessionCommandCommand : ExecdCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string SessionId { get; set; } = "";

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    [Parameter]
    public string? WorkingDirectory { get; set; }

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

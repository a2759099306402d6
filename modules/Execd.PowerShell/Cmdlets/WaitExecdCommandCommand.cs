using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Waits until commands have finished and writes their final status.</summary>
/// <remarks>Follows each command's resumable event stream until its final event (no polling; a dropped connection is resumed), then writes its ExecdCommand. With -TimeoutSec, a command still running at the deadline gives a non-terminating ExecdWaitTimeout error.</remarks>
/// <example>
/// <code>$c = Invoke-ExecdCommand 'sleep 2; exit 3' -Background; ($c | Wait-ExecdCommand).ExitCode</code>
/// <para>Waits for a background command and reads its exit code (3).</para>
/// </example>
[Cmdlet(VerbsLifecycle.Wait, "ExecdCommand")]
[OutputType(typeof(ExecdCommand))]
public sealed class WaitExecdCommandCommand : ExecdCmdlet
{
    /// <summary>Ids of the commands to wait for, from the pipeline or by property name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("CommandId")]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = [];

    /// <summary>Gives up (with a non-terminating error) after this many seconds; default: wait as long as it takes.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int TimeoutSec { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            Guard(id, () => WaitOne(id));
        }
    }

    private void WaitOne(string id)
    {
        var status = Wait(c => Client.StatusAsync(id, c));
        if (status.Running)
        {
            try
            {
                // From the end of what is there now: only the final event matters here, not the output.
                new CommandFollower(this, id, status.OutputBytes, TimeoutSec).Follow(_ => { });
            }
            catch (TimeoutException)
            {
                WriteError(new ExecdException("ExecdWaitTimeout", ErrorCategory.OperationTimeout,
                    $"command {id} was still running after {TimeoutSec} s").ToErrorRecord(id));
                return;
            }
            status = Wait(c => Client.StatusAsync(id, c));
        }
        WriteObject(ExecdCommand.From(status));
    }
}

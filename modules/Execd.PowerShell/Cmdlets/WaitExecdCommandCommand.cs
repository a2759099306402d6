using System.Diagnostics;
using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Waits until commands have finished and writes their final status.</summary>
[Cmdlet(VerbsLifecycle.Wait, "ExecdCommand")]
[OutputType(typeof(ExecdCommand))]
public sealed class WaitExecdCommandCommand : ExecdCmdlet
{
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
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            var status = Wait(c => Client.StatusAsync(id, c));
            if (!status.Running)
            {
                WriteObject(ExecdCommand.From(status));
                return;
            }
            if (TimeoutSec > 0 && clock.Elapsed.TotalSeconds >= TimeoutSec)
            {
                WriteError(new ExecdException("ExecdWaitTimeout", ErrorCategory.OperationTimeout,
                    $"command {id} was still running after {TimeoutSec} s").ToErrorRecord(id));
                return;
            }
            Wait(c => Task.Delay(delay, c));
            delay = TimeSpan.FromMilliseconds(Math.Min(250, delay.TotalMilliseconds * 2));
        }
    }
}

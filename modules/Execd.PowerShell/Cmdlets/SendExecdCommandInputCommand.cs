using System.Management.Automation;
using System.Text;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Writes to the stdin of a command started with -Stdin, or closes it.</summary>
/// <remarks>Each input string is sent as UTF-8 followed by a newline (unless -NoNewline), in one request per string, in order. -Close closes the command's stdin after the input (or alone, without input): the command reads end-of-file. A command started without -Stdin, a finished command, or a closed stdin gives a non-terminating ExecdNotRunning error (HTTP 409, the message says which).</remarks>
/// <example>
/// <code>$c = Invoke-ExecdCommand 'cat' -Background -Stdin; Send-ExecdCommandInput $c.Id 'hello' -Close; $c | Wait-ExecdCommand | Receive-ExecdCommandOutput</code>
/// <para>Starts cat with an open stdin, sends one line, closes stdin so cat ends, and reads what it echoed.</para>
/// </example>
/// <example>
/// <code>'request-1', 'request-2' | Send-ExecdCommandInput -Id $server.Id</code>
/// <para>Sends two lines to a line-oriented stdio server started in the background with -Stdin.</para>
/// </example>
[Cmdlet(VerbsCommunications.Send, "ExecdCommandInput")]
[OutputType(typeof(ExecdCommand))]
public sealed class SendExecdCommandInputCommand : ExecdCmdlet
{
    /// <summary>Id of the command whose stdin receives the input.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("CommandId")]
    [ValidateNotNullOrEmpty]
    public string Id { get; set; } = "";

    /// <summary>Text to send; each string is one write, followed by a newline unless -NoNewline is given.</summary>
    [Parameter(Position = 1, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string[] InputObject { get; set; } = [];

    /// <summary>Sends each string as it is, without a newline after it.</summary>
    [Parameter]
    public SwitchParameter NoNewline { get; set; }

    /// <summary>Closes the command's stdin after the input has been sent.</summary>
    [Parameter]
    public SwitchParameter Close { get; set; }

    /// <summary>Writes the command's status after the input was sent.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var text in InputObject)
        {
            var data = Encoding.UTF8.GetBytes(NoNewline ? text : text + "\n");
            Guard(Id, () => Wait(c => Client.WriteStdinAsync(Id, data, c)));
        }
    }

    protected override void EndProcessing()
    {
        Guard(Id, () =>
        {
            if (Close)
            {
                Wait(c => Client.SendAsync(HttpMethod.Delete, $"command/{System.Uri.EscapeDataString(Id)}/stdin", c));
            }
            if (PassThru)
            {
                WriteObject(ExecdCommand.From(Wait(c => Client.StatusAsync(Id, c))));
            }
        });
    }
}

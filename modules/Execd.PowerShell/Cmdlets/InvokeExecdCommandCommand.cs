using System.Collections;
using System.Globalization;
using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>
/// <para type="synopsis">Runs a command on execd and streams its output.</para>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ExecdCommand", DefaultParameterSetName = Foreground)]
[OutputType(typeof(string), typeof(ExecdCommandResult), ParameterSetName = [Foreground])]
[OutputType(typeof(ExecdCommand), ParameterSetName = [BackgroundSet])]
public sealed class InvokeExecdCommandCommand : ExecdCmdlet
{
    private const string Foreground = "Foreground";
    private const string BackgroundSet = "Background";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Cwd")]
    public string? WorkingDirectory { get; set; }

    [Parameter]
    public Hashtable? Environment { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue / 1000)]
    public int TimeoutSec { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Executor { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = BackgroundSet)]
    public SwitchParameter Background { get; set; }

    protected override void ProcessRecord()
    {
        var body = new CommandBody
        {
            Command = Command,
            Cwd = WorkingDirectory,
            Background = Background.IsPresent ? true : null,
            Timeout = TimeoutSec > 0 ? TimeoutSec * 1000L : null,
            Envs = Environment?.Cast<DictionaryEntry>().ToDictionary(
                e => Convert.ToString(e.Key, CultureInfo.InvariantCulture) ?? "",
                e => Convert.ToString(e.Value, CultureInfo.InvariantCulture) ?? ""),
            Executor = Executor,
        };
        Guard(Command, () =>
        {
            var request = Client.Request(HttpMethod.Post, "command", body);
            if (Background)
            {
                if (CommandStream.RunBackground(this, request) is { } command)
                {
                    WriteObject(command);
                }
            }
            else
            {
                CommandStream.RunForeground(this, request, Executor ?? "shell", sessionId: null);
            }
        });
    }

    private sealed class CommandBody
    {
        public required string Command { get; init; }
        public string? Cwd { get; init; }
        public bool? Background { get; init; }
        public long? Timeout { get; init; }
        public Dictionary<string, string>? Envs { get; init; }
        public string? Executor { get; init; }
    }
}

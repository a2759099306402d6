using System.Collections;
using System.Globalization;
using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Runs a command on execd and streams its output.</summary>
/// <remarks>In the foreground, each stdout line is written to the pipeline as a string the moment it arrives, each stderr line as a non-terminating error record (ErrorId ExecdStderr, category FromStdErr; merge them with 2&gt;&amp;1), and an ExecdCommandResult with the exit code comes last. A non-zero exit code is data, not an error. Ctrl+C stops the remote command too. With -Background the command is detached and an ExecdCommand comes back at once; follow it with Receive-ExecdCommandOutput -Follow or Wait-ExecdCommand.</remarks>
/// <example>
/// <code>Invoke-ExecdCommand 'echo hi'</code>
/// <para>Runs echo on the daemon: writes 'hi', then the result (exit code 0).</para>
/// </example>
/// <example>
/// <code>Invoke-ExecdCommand 'make test' -WorkingDirectory /src -Environment @{ CI = 1 } -TimeoutSec 600 2&gt;&amp;1 | Tee-Object build.log</code>
/// <para>Runs a build with an environment variable and a 10-minute limit, stderr merged into the output.</para>
/// </example>
/// <example>
/// <code>$c = Invoke-ExecdCommand './long-job.sh' -Background; $c | Receive-ExecdCommandOutput -Follow</code>
/// <para>Starts a background command and follows its output until it ends.</para>
/// </example>
/// <example>
/// <code>Invoke-ExecdCommand 'Get-Process | Sort-Object CPU -Descending | Select-Object -First 5' -Executor pwsh</code>
/// <para>Runs a PowerShell script in the daemon's own runspace pool (the pwsh executor plugin).</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "ExecdCommand", DefaultParameterSetName = Foreground)]
[OutputType(typeof(string), typeof(ExecdCommandResult), ParameterSetName = [Foreground])]
[OutputType(typeof(ExecdCommand), ParameterSetName = [BackgroundSet])]
public sealed class InvokeExecdCommandCommand : ExecdCmdlet
{
    private const string Foreground = "Foreground";
    private const string BackgroundSet = "Background";

    /// <summary>The command text: a bash command line (or a PowerShell script with -Executor pwsh).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Command { get; set; } = "";

    /// <summary>Directory the command runs in, on the daemon's machine. Default: the daemon's working directory.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Cwd")]
    public string? WorkingDirectory { get; set; }

    /// <summary>Extra environment variables for the command, as a hashtable (@{ NAME = 'value' }).</summary>
    [Parameter]
    public Hashtable? Environment { get; set; }

    /// <summary>Stops the command after this many seconds (exit code -1). Default: no limit.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue / 1000)]
    public int TimeoutSec { get; set; }

    /// <summary>Which executor runs the command: shell (default) or pwsh, or any executor a plugin adds.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Executor { get; set; }

    /// <summary>Detaches the command and returns an ExecdCommand at once instead of streaming its output.</summary>
    [Parameter(Mandatory = true, ParameterSetName = BackgroundSet)]
    public SwitchParameter Background { get; set; }

    /// <summary>Keeps the command's stdin open (instead of /dev/null) for Send-ExecdCommandInput.</summary>
    [Parameter(ParameterSetName = BackgroundSet)]
    public SwitchParameter Stdin { get; set; }

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
            Stdin = Stdin.IsPresent ? true : null,
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
        public bool? Stdin { get; init; }
    }
}

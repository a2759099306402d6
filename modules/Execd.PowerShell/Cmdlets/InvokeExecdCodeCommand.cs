using System.Management.Automation;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Runs a cell of code in a code context and streams what it produces.</summary>
/// <remarks>Text the code prints goes to the pipeline as strings the moment the kernel sends it (stderr text as error records); an expression's value and every display come as ExecdCodeResult objects with all their MIME data; an exception becomes an ExecdCodeError error record with the kernel's traceback. Without -ContextId the language's default context is used. -OutFile saves the first image a cell produces, -OutDirectory every image.</remarks>
/// <example>
/// <code>$c = New-ExecdCodeContext; $c | Invoke-ExecdCode 'import math; math.pi'</code>
/// <para>Writes an ExecdCodeResult whose Text is 3.141592653589793.</para>
/// </example>
/// <example>
/// <code>$c | Invoke-ExecdCode -OutDirectory ./plots 'import matplotlib.pyplot as plt; plt.plot([1,2]); plt.show()'</code>
/// <para>Saves the plot as a PNG file in ./plots (the result's SavedTo says where).</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "ExecdCode")]
[OutputType(typeof(string), typeof(ExecdCodeResult))]
public sealed class InvokeExecdCodeCommand : ExecdCmdlet
{
    private static readonly Dictionary<string, string> ImageTypes = new(StringComparer.Ordinal)
    {
        ["image/png"] = ".png", ["image/jpeg"] = ".jpg", ["image/gif"] = ".gif", ["image/svg+xml"] = ".svg",
    };

    /// <summary>The code to run.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Code { get; set; } = "";

    /// <summary>The context to run in, by property name (Id) from New-ExecdCodeContext or Get-ExecdCodeContext.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    public string? ContextId { get; set; }

    /// <summary>The language; without -ContextId, its default context runs the code (python unless given).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? Language { get; set; }

    /// <summary>Interrupts the cell after this many seconds.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue / 1000)]
    public int TimeoutSec { get; set; }

    /// <summary>Saves the first image the cell produces to this file.</summary>
    [Parameter]
    public string? OutFile { get; set; }

    /// <summary>Saves every image the cell produces into this directory (created when missing).</summary>
    [Parameter]
    public string? OutDirectory { get; set; }

    protected override void ProcessRecord()
    {
        var context = new Dictionary<string, string?> { ["id"] = ContextId, ["language"] = Language ?? (ContextId is null ? "python" : null) };
        var body = new { code = Code, context, timeout = TimeoutSec > 0 ? TimeoutSec * 1000L : (long?)null };
        Guard(ContextId, () => Run(Client.Request(HttpMethod.Post, "code", body)));
    }

    private void Run(HttpRequestMessage request)
    {
        ExecdClient.AcceptEventStream(request);
        using var response = Wait(c => Client.SendAsync(request, c));
        using var events = new EventReader(Wait(c => response.Content.ReadAsStreamAsync(c)));
        string? id = null;
        var images = 0;
        var outFileUsed = false;
        try
        {
            while (Wait(events.NextAsync) is { } e)
            {
                switch (e.Type)
                {
                    case "init":
                        id = e.Text;
                        break;
                    case "stdout":
                        WriteObject(Chunk(e.Text));
                        break;
                    case "stderr":
                        var text = Chunk(e.Text);
                        WriteError(new ErrorRecord(new RemoteStderrException(text), "ExecdStderr", ErrorCategory.FromStdErr, text));
                        break;
                    case "execution_count":
                        _pendingCount = (int?)e.Raw?["execution_count"];
                        break;
                    case "result":
                        var result = ToResult(e.Raw?["results"] as JsonObject);
                        result.SavedTo = Save(result, id, ref images, ref outFileUsed);
                        WriteObject(result);
                        break;
                    case "error":
                        var error = e.Raw?["error"] as JsonObject;
                        var name = (string?)error?["ename"] ?? "Error";
                        var message = e.ErrorValue is { Length: > 0 } v ? $"{name}: {v}" : name;
                        var record = new ErrorRecord(new ExecdCodeException(message, name, e.ErrorValue ?? "", e.Traceback ?? ""), "ExecdCodeError",
                            ErrorCategory.InvalidResult, id) { ErrorDetails = new ErrorDetails(message) };
                        WriteError(record);
                        break;
                    case "execution_complete":
                        return;
                }
            }
        }
        catch (PipelineStoppedException) when (id is not null)
        {
            // Ctrl+C interrupts the cell too, as it would a local kernel.
            CommandStream.InterruptQuietly(Client, id, "code");
            throw;
        }
    }

    private int? _pendingCount;

    private ExecdCodeResult ToResult(JsonObject? results)
    {
        var data = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in results ?? [])
        {
            data[key == "text" ? "text/plain" : key] = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? (string?)v : value?.ToJsonString();
        }
        var count = _pendingCount;
        _pendingCount = null;
        return new ExecdCodeResult { ExecutionCount = count, Text = data.GetValueOrDefault("text/plain") as string, Data = data };
    }

    private string[] Save(ExecdCodeResult result, string? id, ref int images, ref bool outFileUsed)
    {
        var saved = new List<string>();
        foreach (var (mime, ext) in ImageTypes)
        {
            if (result.Data.GetValueOrDefault(mime) is not string content)
            {
                continue;
            }
            var bytes = mime == "image/svg+xml" ? Encoding.UTF8.GetBytes(content) : Convert.FromBase64String(content.Replace("\n", "", StringComparison.Ordinal));
            if (OutFile is not null && !outFileUsed)
            {
                outFileUsed = true;
                var path = GetUnresolvedProviderPathFromPSPath(OutFile);
                File.WriteAllBytes(path, bytes);
                saved.Add(path);
            }
            if (OutDirectory is not null)
            {
                var dir = GetUnresolvedProviderPathFromPSPath(OutDirectory);
                Directory.CreateDirectory(dir);
                var path = Path.Combine(dir, $"{id ?? "cell"}-{++images}{ext}");
                File.WriteAllBytes(path, bytes);
                saved.Add(path);
            }
        }
        return saved.ToArray();
    }

    // Kernel text comes as chunks with their newlines; one trailing newline is the line's end, not content.
    private static string Chunk(string? text) => text is null ? "" : text.EndsWith('\n') ? text[..^1] : text;
}

/// <summary>The exception inside an <c>ExecdCodeError</c> record: the kernel's error name, value and traceback.</summary>
public sealed class ExecdCodeException(string message, string errorName, string errorValue, string traceback) : Exception(message)
{
    public string ErrorName { get; } = errorName;
    public string ErrorValue { get; } = errorValue;
    public string Traceback { get; } = traceback;
}

using System.Globalization;
using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Downloads files from the daemon's machine.</summary>
/// <remarks>Streams each remote file (GET /files/download) into a local file without holding it in memory, with a progress bar, writing beside the target and renaming into place, so an interrupted download leaves no half file. -Destination is the local file, or an existing local directory to download into under the remote name (default: the current location). -Range (as in an HTTP Range header: 0-99, 100-, -100) or -Offset/-Length download only those bytes. An existing local file is only replaced with -Force (else ExecdLocalFileExists). A missing remote file gives ExecdItemNotFound, a range outside the file ExecdRangeNotSatisfiable. Writes the local file. Supports -WhatIf and -Confirm.</remarks>
/// <example>
/// <code>Receive-ExecdFile /work/report.csv -Destination ./report.csv</code>
/// <para>Downloads one file.</para>
/// </example>
/// <example>
/// <code>Receive-ExecdFile /var/log/app.log -Range -4096 -Destination ./tail.log -Force</code>
/// <para>Downloads the last 4096 bytes of a log.</para>
/// </example>
/// <example>
/// <code>Get-ExecdChildItem /work/out | Where-Object Type -eq file | Receive-ExecdFile -Destination ./out</code>
/// <para>Downloads every file of /work/out into the existing local folder ./out.</para>
/// </example>
[Cmdlet(VerbsCommunications.Receive, "ExecdFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = "Whole")]
[OutputType(typeof(FileInfo))]
public sealed class ReceiveExecdFileCommand : ExecdCmdlet
{
    /// <summary>Absolute paths of the remote files, from the pipeline or by property name (Path).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>The local file to write, or an existing local directory to write into; default: the current location.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    /// <summary>Only these bytes, as an HTTP byte range without the unit: 0-99 (the first 100), 100- (from byte 100), -100 (the last 100).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Range")]
    [ValidatePattern(@"^(\d+-\d*|-\d+)$")]
    public string? Range { get; set; }

    /// <summary>The first byte to download (0-based); with -Length, that many bytes from there.</summary>
    [Parameter(ParameterSetName = "OffsetLength")]
    [ValidateRange(0, long.MaxValue)]
    public long? Offset { get; set; }

    /// <summary>How many bytes to download, from -Offset (default 0).</summary>
    [Parameter(ParameterSetName = "OffsetLength")]
    [ValidateRange(1, long.MaxValue)]
    public long? Length { get; set; }

    /// <summary>Replaces an existing local file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    private string? HttpRange => ParameterSetName switch
    {
        "Range" => "bytes=" + Range,
        "OffsetLength" when Offset is not null || Length is not null => Length is { } length
            ? string.Create(CultureInfo.InvariantCulture, $"bytes={Offset ?? 0}-{(Offset ?? 0) + length - 1}")
            : string.Create(CultureInfo.InvariantCulture, $"bytes={Offset}-"),
        _ => null,
    };

    protected override void ProcessRecord()
    {
        foreach (var remote in Path)
        {
            var local = LocalTarget(remote);
            if (File.Exists(local) && !Force)
            {
                WriteError(new ErrorRecord(new IOException($"{local} exists; pass -Force to replace it."), "ExecdLocalFileExists", ErrorCategory.ResourceExists, local));
                continue;
            }
            if (!ShouldProcess(local, $"Download {remote} from {Client.Uri}"))
            {
                continue;
            }
            Guard(remote, () =>
            {
                var progress = new TransferProgress();
                try
                {
                    Wait(c => Client.DownloadAsync(remote, local, HttpRange, progress, c),
                        () => WriteProgress(progress.ToRecord(1, "Receive-ExecdFile", $"{remote} → {local}")));
                }
                finally
                {
                    WriteProgress(new ProgressRecord(1, "Receive-ExecdFile", "Done") { RecordType = ProgressRecordType.Completed });
                }
                WriteObject(new FileInfo(local));
            });
        }
    }

    private string LocalTarget(string remote)
    {
        var destination = GetUnresolvedProviderPathFromPSPath(Destination ?? ".");
        return Directory.Exists(destination) ? System.IO.Path.Combine(destination, RemotePath.FileName(remote)) : destination;
    }
}

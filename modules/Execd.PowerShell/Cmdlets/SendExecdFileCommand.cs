using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Uploads local files to the daemon's machine.</summary>
/// <remarks>Streams each local file to the daemon (POST /files/upload, multipart) without reading it into memory, with a progress bar; the daemon writes it beside the target and renames it into place, creating missing parent directories, so an interrupted upload leaves no half file. A -Destination ending in / is a directory the files go into under their own names; otherwise it is the remote file's path. An existing remote file is replaced. -Mode, -Owner and -Group set the remote file's permissions (an unknown owner or group gives ExecdInvalidFile and writes nothing). Supports -WhatIf and -Confirm.</remarks>
/// <example>
/// <code>Send-ExecdFile ./build.tar.gz /work/build.tar.gz</code>
/// <para>Uploads one file.</para>
/// </example>
/// <example>
/// <code>Get-ChildItem ./scripts/*.sh | Send-ExecdFile -Destination /work/bin/ -Mode 755 -PassThru</code>
/// <para>Uploads every script into /work/bin as an executable and shows the uploaded files.</para>
/// </example>
[Cmdlet(VerbsCommunications.Send, "ExecdFile", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ExecdItem))]
public sealed class SendExecdFileCommand : ExecdPermissionsCmdlet
{
    /// <summary>Local files to upload (wildcards allowed), from the pipeline or by property name (FullName, as Get-ChildItem writes).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>The remote file's absolute path, or a directory to upload into when it ends with /.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    /// <summary>Writes each remote file after the upload.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var local in LocalPath.ResolveExisting(this, Path))
        {
            if (Directory.Exists(local))
            {
                WriteError(new ErrorRecord(new InvalidOperationException($"{local} is a directory; Send-ExecdFile uploads files."),
                    "ExecdLocalItemIsDirectory", ErrorCategory.InvalidArgument, local));
                continue;
            }
            var remote = Destination.EndsWith('/') ? Destination + System.IO.Path.GetFileName(local) : Destination;
            if (!ShouldProcess($"{remote} on {Client.Uri}", $"Upload {local}"))
            {
                continue;
            }
            Guard(local, () =>
            {
                try
                {
                    var progress = new TransferProgress();
                    try
                    {
                        Wait(c => Client.UploadAsync(local, remote, WireMode, Owner, Group, progress, c),
                            () => WriteProgress(progress.ToRecord(1, "Send-ExecdFile", $"{local} → {remote}")));
                    }
                    finally
                    {
                        WriteProgress(new ProgressRecord(1, "Send-ExecdFile", "Done") { RecordType = ProgressRecordType.Completed });
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    WriteError(new ErrorRecord(ex, "ExecdLocalReadFailed", ErrorCategory.ReadError, local));
                    return;
                }
                if (PassThru)
                {
                    WriteObject(Wait(c => Client.InfoAsync(remote, c)));
                }
            });
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Text;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Reads the stored output of a command, optionally following it until it ends.</summary>
/// <remarks>Reads the command's output log (stdout and stderr interleaved as written) from a byte cursor and writes it as lines. With -Follow it follows the command's resumable event stream until the command has ended (no polling), showing progress, and resumes by itself after a dropped connection; with -Raw it writes ExecdOutputChunk objects whose NextCursor continues a later read (-Raw -Follow polls the logs).</remarks>
/// <example>
/// <code>Invoke-ExecdCommand 'for i in 1 2 3; do echo $i; sleep 1; done' -Background | Receive-ExecdCommandOutput -Follow</code>
/// <para>Follows a background command's output as it is written.</para>
/// </example>
/// <example>
/// <code>$chunk = Receive-ExecdCommandOutput $id -Raw; Receive-ExecdCommandOutput $id -Cursor $chunk.NextCursor</code>
/// <para>Reads what is there, then later only what came after it.</para>
/// </example>
[Cmdlet(VerbsCommunications.Receive, "ExecdCommandOutput")]
[OutputType(typeof(string))]
[OutputType(typeof(ExecdOutputChunk))]
public sealed class ReceiveExecdCommandOutputCommand : ExecdCmdlet
{
    /// <summary>The command id, from the pipeline or by property name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("CommandId")]
    [ValidateNotNullOrEmpty]
    public string Id { get; set; } = "";

    /// <summary>Byte offset to read from (the NextCursor of an earlier -Raw read).</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long Cursor { get; set; }

    /// <summary>Keeps reading until the command has ended.</summary>
    [Parameter]
    public SwitchParameter Follow { get; set; }

    /// <summary>Writes chunks with their cursors instead of lines.</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    /// <summary>How often -Raw -Follow asks for more output while the command is quiet.</summary>
    [Parameter]
    [ValidateRange(10, 60000)]
    public int PollIntervalMilliseconds { get; set; } = 200;

    protected override void ProcessRecord() => Guard(Id, Follow && !Raw ? FollowStream : Receive);

    /// <summary>-Follow: the resumable stream, one line per output event, resumed from the last event id after a drop.</summary>
    private void FollowStream()
    {
        var clock = Stopwatch.StartNew();
        var activityId = Math.Abs(Id.GetHashCode(StringComparison.Ordinal) % 100000);
        var activity = $"Following execd command {Id}";
        var lines = 0L;
        try
        {
            new CommandFollower(this, Id, Cursor > 0 ? Cursor : null).Follow(e =>
            {
                switch (e.Type)
                {
                    case "stdout" or "stderr":
                        // Upstream's blank-line text is "\n".
                        WriteObject(e.Text == "\n" ? "" : e.Text ?? "");
                        lines++;
                        break;
                    case "ping":
                        WriteProgress(new ProgressRecord(activityId, activity,
                            string.Format(CultureInfo.InvariantCulture, "running for {0:N0} s, {1:N0} lines received", clock.Elapsed.TotalSeconds, lines)));
                        break;
                }
            });
        }
        finally
        {
            WriteProgress(new ProgressRecord(activityId, activity, "done") { RecordType = ProgressRecordType.Completed });
        }
    }

    private void Receive()
    {
        var decoder = Encoding.UTF8.GetDecoder();
        var pending = new StringBuilder();
        var cursor = Cursor;
        var clock = Stopwatch.StartNew();
        var activityId = Math.Abs(Id.GetHashCode(StringComparison.Ordinal) % 100000);
        var activity = $"Following execd command {Id}";
        var status = "starting";
        var running = true;
        try
        {
            while (true)
            {
                var (data, next) = Wait(c => Client.LogsAsync(Id, cursor, c));
                Emit(data, cursor, next, decoder, pending, final: !Follow);
                cursor = next;
                if (!Follow)
                {
                    return;
                }
                if (data.Length == 0)
                {
                    if (!running)
                    {
                        Emit([], cursor, cursor, decoder, pending, final: true);
                        return;
                    }
                    // Quiet: has it ended? Read once more after it has, so nothing written just before the end is missed.
                    running = Wait(c => Client.StatusAsync(Id, c)).Running;
                    if (running)
                    {
                        status = string.Format(CultureInfo.InvariantCulture, "running for {0:N0} s, {1:N0} bytes received", clock.Elapsed.TotalSeconds, cursor - Cursor);
                        WriteProgress(new ProgressRecord(activityId, activity, status));
                        Wait(c => Task.Delay(PollIntervalMilliseconds, c));
                    }
                }
            }
        }
        finally
        {
            if (Follow)
            {
                WriteProgress(new ProgressRecord(activityId, activity, status) { RecordType = ProgressRecordType.Completed });
            }
        }
    }

    private void Emit(byte[] data, long from, long next, Decoder decoder, StringBuilder pending, bool final)
    {
        var chars = new char[decoder.GetCharCount(data, 0, data.Length, final)];
        decoder.GetChars(data, 0, data.Length, chars, 0, final);
        if (Raw)
        {
            if (chars.Length > 0)
            {
                WriteObject(new ExecdOutputChunk { Id = Id, Cursor = from, NextCursor = next, Text = new string(chars) });
            }
            return;
        }
        pending.Append(chars);
        // Whole lines only; a partial last line waits for its end unless this is the last read.
        var text = pending.ToString();
        var end = text.LastIndexOf('\n');
        var complete = final ? text : end >= 0 ? text[..(end + 1)] : "";
        pending.Clear().Append(text.AsSpan(complete.Length));
        if (complete.Length == 0)
        {
            return;
        }
        var lines = complete.Split('\n');
        var count = complete.EndsWith('\n') ? lines.Length - 1 : lines.Length;
        for (var i = 0; i < count; i++)
        {
            WriteObject(lines[i].TrimEnd('\r'));
        }
    }
}

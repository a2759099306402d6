using System.Globalization;
using System.Management.Automation;
using System.Text;
using Execd.Storage.Redis;
using StackExchange.Redis;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Reads a command's output straight from Redis, where the Redis storage provider put it; no daemon needed.</summary>
/// <remarks>The daemon's Redis provider (Storage:Redis:Configuration) writes every command's output to Redis Streams under keys that name the sandbox (OPENSANDBOX_ID) and the command id. This reads them back after the sandbox is gone: the command's record and the bytes of its newest stream, written as lines, or with -Raw as one ExecdFleetOutput object per command. Without -CommandId it reads every command Redis holds for the sandbox, oldest first. Output whose record still says 'running' may be partial (the command is still writing, or its output moved to another provider), and a warning says so.</remarks>
/// <example>
/// <code>Get-ExecdFleetOutput -Redis 'redis.internal:6379,password=...' -SandboxId sb-42 -CommandId 3f2a...</code>
/// <para>Writes the command's output as lines.</para>
/// </example>
/// <example>
/// <code>Get-ExecdFleetOutput -Redis localhost:6379 -SandboxId sb-42 -Raw | Where-Object State -ne completed</code>
/// <para>Lists every command of the sandbox whose output was not sealed in Redis.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdFleetOutput")]
[OutputType(typeof(string))]
[OutputType(typeof(ExecdFleetOutput))]
public sealed class GetExecdFleetOutputCommand : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private ConnectionMultiplexer? _redis;

    /// <summary>A StackExchange.Redis connection string: host:port, password=..., ssl=true, user=... (the password is never shown).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Redis { get; set; } = "";

    /// <summary>The sandbox whose output to read (the daemon's OPENSANDBOX_ID, or its Storage:Redis:SandboxId).</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string SandboxId { get; set; } = "";

    /// <summary>The command ids, from the pipeline or by property name; omitted: every command of the sandbox, oldest first.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string[]? CommandId { get; set; }

    /// <summary>With ssl=true: a PEM file of the certificate authority that signed the server's certificate (a private CA); default: the system's trust store.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TrustIssuer { get; set; }

    /// <summary>The first part of every key (the daemon's Storage:Redis:KeyPrefix).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string KeyPrefix { get; set; } = "execd";

    /// <summary>Writes one ExecdFleetOutput object per command (record, state, text) instead of lines.</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    protected override void BeginProcessing()
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(Redis);
        }
        catch (ArgumentException ex)
        {
            // The parser's message names the offending option, never the password's value.
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Redis is not a StackExchange.Redis connection string: {ex.Message}", ex),
                "InvalidRedisConfiguration", ErrorCategory.InvalidArgument, null));
            return;
        }
        if (TrustIssuer is not null)
        {
            var ca = SessionState.Path.GetUnresolvedProviderPathFromPSPath(TrustIssuer);
            if (!File.Exists(ca))
            {
                ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"-TrustIssuer: no certificate file at {ca}", ca),
                    "TrustIssuerNotFound", ErrorCategory.ObjectNotFound, ca));
            }
            options.TrustIssuer(ca);
        }
        // Fail at once when Redis is not there rather than retry in the background: this is a one-shot read.
        options.AbortOnConnectFail = true;
        var endpoints = string.Join(",", options.EndPoints.Select(e => e.ToString()));
        try
        {
            _redis = Wait(ConnectionMultiplexer.ConnectAsync(options));
        }
        catch (RedisException ex)
        {
            // The client's own message advises abortConnect=false, which means nothing to a one-shot read: say what failed.
            var why = ex is RedisConnectionException failed
                ? $"could not connect ({failed.FailureType}{(ex.InnerException is { } inner ? $": {FirstLine(inner.Message)}" : "")})"
                : FirstLine(ex.Message);
            // Never echo the password, should the client's message ever contain it.
            why = string.IsNullOrEmpty(options.Password) ? why : why.Replace(options.Password, "***", StringComparison.Ordinal);
            ThrowTerminatingError(new ErrorRecord(new IOException($"Redis at {endpoints}: {why}"),
                "RedisUnreachable", ErrorCategory.ConnectionError, endpoints));
        }
    }

    protected override void ProcessRecord()
    {
        var db = _redis!.GetDatabase();
        var keys = new RedisKeys(KeyPrefix, SandboxId);
        var ids = CommandId ?? [.. Wait(db.SortedSetRangeByRankAsync(keys.Commands)).Select(v => (string)v!)];
        foreach (var id in ids)
        {
            FleetOutput? output;
            try
            {
                output = Wait(FleetOutput.ReadAsync(db, keys, id));
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                WriteError(new ErrorRecord(new IOException($"Redis: reading command {id}: {FirstLine(ex.Message)}", ex), "RedisReadFailed", ErrorCategory.ReadError, id));
                continue;
            }
            if (output is null)
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"Redis has no output of command '{id}' in sandbox '{SandboxId}' (key {keys.Record(id)}): expired, deleted, or never stored there"),
                    "FleetOutputNotFound", ErrorCategory.ObjectNotFound, id));
                continue;
            }
            Write(id, output);
        }
    }

    private void Write(string id, FleetOutput output)
    {
        var state = output.Record.GetValueOrDefault("state");
        var text = Encoding.UTF8.GetString(output.Data);
        if (Raw)
        {
            WriteObject(new ExecdFleetOutput
            {
                SandboxId = SandboxId, CommandId = id, State = state, CreatedAt = Time(output.Record, "created_at"),
                CompletedAt = Time(output.Record, "completed_at"), Streams = output.Sinks.Count, Length = output.Data.Length,
                Gaps = output.Sinks.Count == 0 ? 0 : output.Sinks[^1].Gaps, Text = text,
            });
            return;
        }
        if (state != "completed")
        {
            WriteWarning($"command {id}: its record in Redis says '{state}': the output here may be partial (still being written, or moved to another provider)");
        }
        if (output.Sinks.Count > 1)
        {
            // Each stream's offsets start at 0 (the provider contract gives a sink no absolute base): they cannot be laid end to end.
            WriteWarning($"command {id} has {output.Sinks.Count} streams in Redis (its output was capped into segments, or moved): this is the newest one");
        }
        var lines = text.Split('\n');
        var count = text.EndsWith('\n') ? lines.Length - 1 : lines.Length;
        for (var i = 0; i < count; i++)
        {
            WriteObject(lines[i].TrimEnd('\r'));
        }
    }

    private static DateTimeOffset? Time(IReadOnlyDictionary<string, string> record, string field) =>
        record.TryGetValue(field, out var text) && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) ? t : null;

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();

    /// <summary>Waits on the pipeline thread; Ctrl+C becomes a stopped pipeline.</summary>
    private T Wait<T>(Task<T> task)
    {
        try
        {
            return task.WaitAsync(_stopping.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    protected override void StopProcessing() => _stopping.Cancel();

    public void Dispose()
    {
        _redis?.Dispose();
        _redis = null;
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }
}

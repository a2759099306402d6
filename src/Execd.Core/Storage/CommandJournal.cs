using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Execd.Core.Commands;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Storage;

/// <summary>
/// Persists each command's record beside its output, on a provider that outlives the daemon
/// (<see cref="ICommandRecordStore"/>): when the process is known (with its pid, for a later re-adoption) and when the command
/// ended. A record is framed as <c>execd-record/1 sha256=HEX length=N\n</c> followed by N bytes of JSON, so a torn or altered
/// record is detected and never misread; the provider replaces records atomically. Failures are logged, never thrown: a
/// command runs whether or not its record could be written.
/// </summary>
public sealed class CommandJournal
{
    internal const string Magic = "execd-record/1";
    private readonly StorageRanking _ranking;
    private readonly StorageOptions.DurabilityOptions _options;
    private readonly ILogger<CommandJournal> _logger;

    public CommandJournal(StorageRanking ranking, IOptions<StorageOptions> options, ILogger<CommandJournal> logger)
    {
        _ranking = ranking;
        _options = options.Value.Durability;
        _logger = logger;
    }

    public bool Enabled => _options.Enabled;

    /// <summary>Writes <paramref name="record"/>'s record where its output is (or on the best store when the output is not on one).</summary>
    public void Save(CommandRecord record)
    {
        if (!_options.Enabled)
        {
            return;
        }
        // One write at a time per command, each of the state at the time it takes the gate: the start record, written off the
        // request's path, can run after the end record was queued, and must never replace it with an older state.
        lock (record.JournalGate)
        {
            var store = record.RecordForgotten ? null : TargetFor(record);
            if (store is null)
            {
                return;
            }
            var bytes = Frame(Serialize(record));
            // A record saying the command ended (it may have ended as it was serialized) never points at bytes a power cut could
            // lose: written only once the output is sealed. A start record whose turn comes during the seal waits for it.
            if (!record.Running && !record.Log.IsSealed)
            {
                return;   // ended, not sealed yet: the end record follows the seal
            }
            var durable = _options.Fsync && record.State != CommandState.Running;
            try
            {
                store.WriteRecord(record.Id, bytes, durable);
            }
            catch (Exception ex)
            {
                _logger.LogWarning("Command {Id}: its record could not be written on {Provider}: {Error}", record.Id, ((IOutputStorageProvider)store).Name, ex.Message);
                return;
            }
            if (record.RecordStore is ICommandRecordStore previous && previous != store)
            {
                TryDelete(previous, record.Id);
            }
            record.RecordStore = store;
            if (record.State != CommandState.Running && record.MayHaveRunJournal)
            {
                try
                {
                    store.DeleteRuns(record.Id);   // the record holds every run now
                    record.MayHaveRunJournal = false;
                }
                catch (Exception ex)
                {
                    _logger.LogDebug("Command {Id}: deleting its run journal failed: {Error}", record.Id, ex.Message);
                }
            }
        }
    }

    /// <summary>Deletes the record (the command was forgotten by retention).</summary>
    public void Delete(CommandRecord record)
    {
        lock (record.JournalGate)
        {
            // A save still queued (the start record) must not write it again afterwards.
            record.RecordForgotten = true;
            if (record.RecordStore is ICommandRecordStore store)
            {
                TryDelete(store, record.Id);
                record.RecordStore = null;
            }
        }
    }

    private void TryDelete(ICommandRecordStore store, string id)
    {
        try
        {
            store.DeleteRecord(id);
        }
        catch (Exception ex)
        {
            _logger.LogDebug("Command {Id}: deleting its old record failed: {Error}", id, ex.Message);
        }
    }

    /// <summary>
    /// Notes in the command's run journal, beside where its record goes, that <paramref name="run"/> starts (<see cref="OutputLog.RunStarting"/>):
    /// a crash between two records then still leaves each stored byte's stream on disk. Failures are logged, never thrown.
    /// </summary>
    public void AppendRun(CommandRecord record, long run)
    {
        if (!_options.Enabled || record.RecordForgotten || TargetFor(record) is not { } store)
        {
            return;
        }
        record.MayHaveRunJournal = true;
        Span<byte> entry = stackalloc byte[sizeof(long)];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(entry, run);
        try
        {
            store.AppendRuns(record.Id, entry);
        }
        catch (Exception ex)
        {
            _logger.LogDebug("Command {Id}: its run journal could not be written: {Error}", record.Id, ex.Message);
        }
    }

    /// <summary>
    /// The runs of a record that was running, merged with its run journal (<see cref="AppendRun"/>): entries in offset order, a later
    /// entry at the same offset replacing an earlier one, a torn last entry ignored.
    /// </summary>
    internal static List<long> MergeRuns(List<long> recorded, byte[]? journal)
    {
        if (journal is null || journal.Length < sizeof(long))
        {
            return recorded;
        }
        var all = new List<(long Offset, int Order, long Run)>();
        foreach (var run in recorded)
        {
            all.Add((run >> 1, all.Count, run));
        }
        for (var at = 0; at + sizeof(long) <= journal.Length; at += sizeof(long))
        {
            var run = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(journal.AsSpan(at));
            if (run >= 0)
            {
                all.Add((run >> 1, all.Count, run));
            }
        }
        all.Sort((a, b) => a.Offset != b.Offset ? a.Offset.CompareTo(b.Offset) : a.Order.CompareTo(b.Order));
        var merged = new List<long>();
        for (var i = 0; i < all.Count; i++)
        {
            if (i + 1 < all.Count && all[i + 1].Offset == all[i].Offset)
            {
                continue;
            }
            if (merged.Count == 0 || (merged[^1] & 1) != (all[i].Run & 1))
            {
                merged.Add(all[i].Run);
            }
        }
        return merged;
    }

    private ICommandRecordStore? TargetFor(CommandRecord record)
    {
        var current = record.Log.Provider;
        var ranked = _ranking.Current;
        foreach (var r in ranked)
        {
            if (r.Provider.Name == current && r.Provider is ICommandRecordStore here)
            {
                return here;
            }
        }
        if (record.RecordStore is ICommandRecordStore kept && ranked.Any(r => r.Provider == kept && r.Health != ProviderHealth.Unhealthy))
        {
            return kept;
        }
        return ranked.Where(r => r.Health != ProviderHealth.Unhealthy).Select(r => r.Provider).OfType<ICommandRecordStore>().FirstOrDefault();
    }

    /// <summary>
    /// Frames a record: <c>execd-record/1 xxh3=HEX length=N</c>. The checksum detects a torn or altered write; it needs no
    /// cryptographic strength, and XXH3 (System.IO.Hashing, managed) keeps OpenSSL out of a daemon that never needs it
    /// (SHA-256 loaded libcrypto, ~5 MiB resident, on the first command). Records of older daemons (<c>sha256=</c>) still read.
    /// </summary>
    internal static byte[] Frame(byte[] json)
    {
        var header = Encoding.ASCII.GetBytes($"{Magic} xxh3={Xxh3(json)} length={json.Length}\n");
        return [.. header, .. json];
    }

    private static string Xxh3(ReadOnlySpan<byte> json) => System.IO.Hashing.XxHash3.HashToUInt64(json).ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>The JSON of a framed record, or why it is not a whole, intact record.</summary>
    internal static (ReadOnlyMemory<byte> Json, string? Error) Unframe(byte[] bytes)
    {
        var newline = Array.IndexOf(bytes, (byte)'\n');
        if (newline < 0)
        {
            return (default, "truncated: no header line");
        }
        var header = Encoding.ASCII.GetString(bytes, 0, newline).Split(' ');
        var xxh3 = header.Length == 3 && header[1].StartsWith("xxh3=", StringComparison.Ordinal);
        if (header.Length != 3 || header[0] != Magic || !(xxh3 || header[1].StartsWith("sha256=", StringComparison.Ordinal)) || !header[2].StartsWith("length=", StringComparison.Ordinal)
            || !int.TryParse(header[2].AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            return (default, "not an execd record (bad header)");
        }
        var json = bytes.AsMemory(newline + 1);
        if (json.Length != length)
        {
            return (default, $"truncated or torn: {json.Length} of {length} bytes");
        }
        if (xxh3 ? Xxh3(json.Span) != header[1][5..] : Convert.ToHexStringLower(SHA256.HashData(json.Span)) != header[1][7..])
        {
            return (default, "checksum mismatch (corrupted)");
        }
        return (json, null);
    }

    internal static byte[] Serialize(CommandRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            var spec = record.Spec;
            var log = record.Log;
            json.WriteStartObject();
            json.WriteString("id", record.Id);
            json.WriteString("state", record.State.ToString().ToLowerInvariant());
            json.WriteString("command", spec.Command);
            json.WriteString("executor", spec.Executor);
            json.WriteBoolean("background", spec.Background);
            json.WriteString("cwd", spec.WorkingDirectory);
            if (spec.CaptureDirectory is { } capture)
            {
                json.WriteString("capture_dir", capture);
            }
            if (spec.Uid is { } uid)
            {
                json.WriteNumber("uid", uid);
            }
            json.WriteString("started_at", record.StartedAt);
            if (record.FinishedAt is { } finished)
            {
                json.WriteString("finished_at", finished);
            }
            if (record.LastProcessId is { } pid)
            {
                // The process is its own group leader (executors start it in a new group): a re-adoption needs both.
                json.WriteNumber("pid", pid);
                json.WriteNumber("pgid", pid);
                // With the pid, the start time identifies the process: a restarted daemon re-adopts it only if both match.
                if (record.Running && AdoptedProcess.StartTicks(pid) is { } ticks)
                {
                    json.WriteNumber("start_ticks", ticks);
                    // Its pipes, as its executor reported them from its own read ends (capture mode only).
                    if (spec.CaptureDirectory is not null && record.CapturePipes is { } pipes)
                    {
                        json.WriteNumber("stdout_pipe", pipes.Stdout);
                        json.WriteNumber("stderr_pipe", pipes.Stderr);
                    }
                }
            }
            if (record.Exit is { } exit)
            {
                json.WriteNumber("exit_code", exit.ExitCode);
                json.WriteString("error", exit.Error);
            }
            json.WriteString("stop_reason", record.StopReason);
            json.WriteBoolean("start_failed", record.StartFailed);
            json.WriteNumber("length", log.Length);
            json.WriteNumber("unstored_bytes", log.UnstoredBytes);
            json.WriteNumber("dropped_bytes", log.DroppedBytes);
            json.WriteBoolean("deleted", log.IsDeleted);
            json.WriteStartArray("providers");
            foreach (var p in log.ProviderHistory)
            {
                json.WriteStringValue(p);
            }
            json.WriteEndArray();
            json.WriteStartArray("segments");
            foreach (var s in log.StoredSegments)
            {
                json.WriteStartObject();
                json.WriteString("provider", s.Provider);
                json.WriteString("key", s.Key);
                json.WriteNumber("start", s.Start);
                json.WriteNumber("length", s.Length);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("runs");
            foreach (var run in log.Runs)
            {
                json.WriteNumberValue(run);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}

namespace Execd;

/// <summary>
/// A place where commands' output logs are stored: a directory, a tmpfs, process memory. Plugins
/// contribute providers; the host ranks them by health and opens each new command's sink on the best
/// one. Every member may throw at any moment (directory deleted, disk full, budget exhausted):
/// providers never swallow failures, the host decides what to do (fail over to the next provider).
/// </summary>
public interface IOutputStorageProvider
{
    /// <summary>Unique name, e.g. <c>memory</c> or <c>files:/tmp/execd</c>.</summary>
    string Name { get; }

    /// <summary>Kind of storage: <c>files</c>, <c>tmpfs</c> or <c>memory</c>.</summary>
    string Kind { get; }

    /// <summary>Where the data lives (a directory, or a description such as <c>process memory</c>).</summary>
    string Location { get; }

    /// <summary>Bytes currently held by this provider's sinks.</summary>
    long BytesHeld { get; }

    /// <summary>Number of sinks currently open or kept on this provider.</summary>
    int SinksHeld { get; }

    /// <summary>Opens a new, empty sink for command <paramref name="commandId"/>. Throws on failure.</summary>
    IOutputSink Open(string commandId);
}

/// <summary>
/// One command's output bytes on one provider: an append-only byte sequence that starts at sink
/// offset 0. Not thread-safe: the host serializes calls. Every member throws on failure.
/// </summary>
public interface IOutputSink : IDisposable
{
    /// <summary>The provider that holds this sink.</summary>
    IOutputStorageProvider Provider { get; }

    /// <summary>Bytes appended so far.</summary>
    long Length { get; }

    /// <summary>
    /// Where the provider keeps this sink (a file name), so a restarted daemon can reopen it with
    /// <see cref="ICommandRecordStore.OpenExisting"/>; null when the sink does not outlive the process.
    /// </summary>
    string? Key => null;

    /// <summary>Appends <paramref name="data"/> at offset <see cref="Length"/>.</summary>
    void Append(ReadOnlySpan<byte> data);

    /// <summary>
    /// Whether <see cref="AppendFromPipe"/> works for this sink: it is a file the kernel can move pipe bytes into.
    /// </summary>
    bool CanAppendFromPipe => false;

    /// <summary>
    /// Moves up to <paramref name="count"/> bytes from <paramref name="pipe"/> (a pipe's read end) to offset <see cref="Length"/>
    /// without reading them into the process (Linux <c>splice(2)</c>, never blocking on the pipe): a byte leaves the pipe only
    /// once it is in the sink, so a daemon killed at any instant leaves every byte either stored or still in the pipe.
    /// Returns the bytes moved; 0 when the pipe is empty and no writer holds it any more; -1 when it is empty but still has a
    /// writer. Throws like <see cref="Append"/> (the bytes not moved stay in the pipe). Called only when
    /// <see cref="CanAppendFromPipe"/>.
    /// </summary>
    int AppendFromPipe(System.Runtime.InteropServices.SafeHandle pipe, int count) =>
        throw new NotSupportedException($"{GetType().Name} cannot take bytes from a pipe");

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; returns the count (0 at the end).</summary>
    int Read(long offset, Span<byte> buffer);

    /// <summary>Called once no more data will be appended: a durable provider flushes the bytes to the device (fsync).</summary>
    void Complete();

    /// <summary>Deletes the stored bytes; the sink is unusable afterwards.</summary>
    void Delete();
}

/// <summary>
/// Thrown by a provider or sink that cannot take more bytes because a budget or the device is full.
/// </summary>
public sealed class StorageFullException : IOException
{
    /// <summary>Creates the exception.</summary>
    public StorageFullException(string message) : base(message) { }
}

/// <summary>
/// How a storage provider's health check is registered so the host can rank the provider by it. A plugin
/// adds one <c>Microsoft.Extensions.Diagnostics.HealthChecks</c> check per provider in its
/// <see cref="IExecdPlugin.Register"/>: named exactly like <see cref="IOutputStorageProvider.Name"/>, tagged
/// <see cref="Tag"/>, returning the registration's <c>FailureStatus</c> when the provider cannot store,
/// and a description that says why. The host runs the checks in the background (periodically and right
/// after a provider fails) and ranks providers Healthy, then Degraded, then Unhealthy, then by priority.
/// </summary>
public static class StorageHealth
{
    /// <summary>The tag every storage provider's health check carries.</summary>
    public const string Tag = "storage";

    /// <summary>Optional <c>HealthCheckResult.Data</c> entry (a <see cref="long"/>): bytes the provider can still take.</summary>
    public const string FreeBytesKey = "free_bytes";
}

/// <summary>
/// A storage provider whose data outlives the daemon process (a directory, a tmpfs): it keeps each command's record
/// beside the output, so a restarted daemon can re-index finished commands, sweep files nobody owns, and report
/// commands that were running when the previous daemon died. A record is opaque bytes to the provider; the host
/// frames it with a checksum. Every member may throw.
/// </summary>
public interface ICommandRecordStore
{
    /// <summary>Replaces the record of <paramref name="commandId"/> atomically (write a temporary file, then rename):
    /// a crash leaves the old record or the new one, never a mix. <paramref name="durable"/>: also flush it to the device.</summary>
    void WriteRecord(string commandId, ReadOnlySpan<byte> record, bool durable);

    /// <summary>Every stored record: the command id (from the record's name) and its bytes, or why it could not be read.</summary>
    IEnumerable<StoredCommandRecord> ReadRecords();

    /// <summary>Deletes the record of <paramref name="commandId"/>, if any.</summary>
    void DeleteRecord(string commandId);

    /// <summary>Reopens the sink stored under <paramref name="key"/> (an <see cref="IOutputSink.Key"/>) for reading and deleting.</summary>
    IOutputSink OpenExisting(string key);

    /// <summary>The keys of every sink stored on this provider (to sweep those no record owns).</summary>
    IEnumerable<string> StoredKeys();

    /// <summary>Deletes the stored sink <paramref name="key"/> (and any leftover temporary record files older than the daemon).</summary>
    void DeleteKey(string key);

    /// <summary>
    /// Appends <paramref name="entries"/> to the command's run journal, a small append-only file beside its record: while a command
    /// runs, the host notes there which stream writes from which offset on, before the bytes are stored, so a daemon that crashes
    /// between two records still leaves each byte's stream on disk. Default: the provider keeps none (the record's runs are used).
    /// </summary>
    void AppendRuns(string commandId, ReadOnlySpan<byte> entries) { }

    /// <summary>The command's run journal as appended so far (a torn last entry included), or null if there is none.</summary>
    byte[]? ReadRuns(string commandId) => null;

    /// <summary>Deletes the command's run journal, if any (its record now holds every run).</summary>
    void DeleteRuns(string commandId) { }
}

/// <summary>A record read back by <see cref="ICommandRecordStore.ReadRecords"/>: its bytes, or the reason it could not be read.</summary>
/// <param name="CommandId">The command id the record's name gives.</param>
/// <param name="Bytes">The record, or null when unreadable.</param>
/// <param name="Error">Why it could not be read, or null.</param>
public sealed record StoredCommandRecord(string CommandId, byte[]? Bytes, string? Error);

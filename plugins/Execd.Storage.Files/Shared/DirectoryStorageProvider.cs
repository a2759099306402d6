using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Execd.Storage;

/// <summary>
/// Output stored as one file per sink in a directory. While it is written, a sink keeps its file open and reads
/// through that handle, so what was written stays readable after the directory is deleted (on Linux an unlinked
/// file lives while a descriptor is open); the sink notices the deletion within
/// <see cref="DirectoryProviderOptions.DeletionCheckInterval"/> and throws, so the host moves the output.
/// Once completed, a sink closes its file and opens it again for each read: a finished command holds no
/// descriptor (thousands of finished commands must not exhaust the daemon's descriptor limit); the price is
/// that a finished command's output is gone if its directory is deleted afterwards.
/// </summary>
[RegisteredByPlugin]
internal sealed class DirectoryStorageProvider : IOutputStorageProvider, ICommandRecordStore
{
    private const string LogSuffix = ".log";
    private const string RecordSuffix = ".record";
    private const string RunsSuffix = ".runs";
    private const string TemporarySuffix = ".tmp";
    private readonly DirectoryProviderOptions _options;
    private readonly Func<string, string?>? _openGuard;
    private long _held;
    private int _sinks;
    private long _sequence;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, FileStream> _runJournals = new(StringComparer.Ordinal);

    /// <param name="kind"><c>files</c> or <c>tmpfs</c>.</param>
    /// <param name="directory">Absolute directory.</param>
    /// <param name="options">Mode, budget, deletion check interval.</param>
    /// <param name="openGuard">Returns why a sink must not be opened in the directory now (e.g. not a tmpfs), or null.</param>
    public DirectoryStorageProvider(string kind, string directory, DirectoryProviderOptions options, Func<string, string?>? openGuard = null)
    {
        Kind = kind;
        Location = directory;
        _options = options;
        _openGuard = openGuard;
    }

    public string Name => $"{Kind}:{Location}";
    public string Kind { get; }
    public string Location { get; }
    public DirectoryProviderOptions Options => _options;
    public long BudgetBytes => _options.BudgetBytes;
    public long BytesHeld => Interlocked.Read(ref _held);
    public int SinksHeld => Volatile.Read(ref _sinks);

    public IOutputSink Open(string commandId)
    {
        if (_openGuard?.Invoke(Location) is { } refused)
        {
            throw new IOException(refused);
        }
        // Each daemon numbers its sinks from 1: a command a previous daemon started (re-adopted, or re-indexed with output its shell
        // drained) may already have that name here, which is its stored output and never overwritten: the next number is taken.
        while (true)
        {
            var path = Path.Combine(Location, $"{SafeName(commandId)}.{Interlocked.Increment(ref _sequence)}{LogSuffix}");
            FileStream stream;
            try
            {
                stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.Read | FileShare.Delete,
                    BufferSize = 0,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
            }
            catch (IOException) when (File.Exists(path))
            {
                continue;
            }
            Interlocked.Increment(ref _sinks);
            return new FileSink(this, path, stream, 0);
        }
    }

    public void WriteRecord(string commandId, ReadOnlySpan<byte> record, bool durable)
    {
        var path = Path.Combine(Location, SafeName(commandId) + RecordSuffix);
        var temporary = path + TemporarySuffix;
        using (var file = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            BufferSize = 0,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            file.Write(record);
            if (durable)
            {
                file.Flush(flushToDisk: true);
            }
        }
        // rename(2) is atomic: a reader (or a crash) sees the old record or the new one, never a torn one.
        File.Move(temporary, path, overwrite: true);
    }

    public IEnumerable<StoredCommandRecord> ReadRecords()
    {
        if (!Directory.Exists(Location))
        {
            yield break;
        }
        foreach (var path in Directory.EnumerateFiles(Location, "*" + RecordSuffix))
        {
            var id = Path.GetFileName(path)[..^RecordSuffix.Length];
            byte[]? bytes = null;
            string? error = null;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error = ex.Message;
            }
            yield return new StoredCommandRecord(id, bytes, error);
        }
    }

    public void DeleteRecord(string commandId)
    {
        File.Delete(Path.Combine(Location, SafeName(commandId) + RecordSuffix));
        DeleteRuns(commandId);
    }

    public void AppendRuns(string commandId, ReadOnlySpan<byte> entries)
    {
        // Kept open while the command runs (a command writing stdout and stderr in turns appends one entry per turn); closed by DeleteRuns
        // when its record holds every run. One writer per command (the host's output lock); the page cache outlives a daemon crash.
        var journal = _runJournals.GetOrAdd(commandId, id => new FileStream(Path.Combine(Location, SafeName(id) + RunsSuffix), new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }));
        lock (journal)
        {
            journal.Write(entries);
        }
    }

    public byte[]? ReadRuns(string commandId)
    {
        var path = Path.Combine(Location, SafeName(commandId) + RunsSuffix);
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    public void DeleteRuns(string commandId)
    {
        if (_runJournals.TryRemove(commandId, out var journal))
        {
            journal.Dispose();
        }
        File.Delete(Path.Combine(Location, SafeName(commandId) + RunsSuffix));
    }

    public IOutputSink OpenExisting(string key)
    {
        var path = KeyPath(key);
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read | FileShare.Delete,
            BufferSize = 0,
        });
        var length = stream.Length;
        Interlocked.Add(ref _held, length);
        Interlocked.Increment(ref _sinks);
        var sink = new FileSink(this, path, stream, length);
        // Re-indexed output is finished: no descriptor held per command (reads open the file), as for a completed sink.
        sink.Complete();
        return sink;
    }

    public IEnumerable<string> StoredKeys() =>
        Directory.Exists(Location)
            ? Directory.EnumerateFiles(Location).Select(Path.GetFileName).OfType<string>()
                .Where(n => n.EndsWith(LogSuffix, StringComparison.Ordinal) || n.EndsWith(RecordSuffix + TemporarySuffix, StringComparison.Ordinal))
            : [];

    public void DeleteKey(string key) => File.Delete(KeyPath(key));

    // A key is a plain file name in this directory, never a path.
    private string KeyPath(string key) =>
        key.Length == 0 || key.Contains('/') || key is "." or ".." ? throw new ArgumentException($"invalid sink key '{key}'") : Path.Combine(Location, key);

    private static string SafeName(string id) =>
        string.Create(id.Length, id, (span, s) =>
        {
            for (var i = 0; i < s.Length; i++)
            {
                span[i] = char.IsAsciiLetterOrDigit(s[i]) || s[i] is '-' or '_' ? s[i] : '_';
            }
        });

    private void Reserve(long bytes)
    {
        var budget = _options.BudgetBytes;
        if (Interlocked.Add(ref _held, bytes) > budget && budget > 0)
        {
            Interlocked.Add(ref _held, -bytes);
            throw new StorageFullException($"{Name}: budget of {budget} bytes is exhausted");
        }
    }

    private void Release(long bytes)
    {
        Interlocked.Add(ref _held, -bytes);
        Interlocked.Decrement(ref _sinks);
    }

    private sealed class FileSink(DirectoryStorageProvider provider, string path, FileStream stream, long length) : IOutputSink
    {
        private readonly SafeFileHandle _handle = stream.SafeFileHandle;
        private volatile bool _completed;
        private long _length = length;
        private long _nextCheck = Environment.TickCount64 + (long)provider._options.DeletionCheckInterval.TotalMilliseconds;
        private bool _closed;

        public IOutputStorageProvider Provider => provider;
        public long Length => _length;
        public string Key => Path.GetFileName(path);

        public void Append(ReadOnlySpan<byte> data)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_completed)
            {
                throw new InvalidOperationException($"{path}: appended after Complete");
            }
            if (data.IsEmpty)
            {
                return;
            }
            CheckStillLinked();
            provider.Reserve(data.Length);
            try
            {
                RandomAccess.Write(_handle, data, _length);
            }
            catch
            {
                provider.Reserve(-data.Length);
                throw;
            }
            _length += data.Length;
        }

        public bool CanAppendFromPipe => provider._options.Splice;

        public unsafe int AppendFromPipe(SafeHandle pipe, int count)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_completed)
            {
                throw new InvalidOperationException($"{path}: appended after Complete");
            }
            CheckStillLinked();
            var added = false;
            nint moved;
            int errno;
            int want;
            pipe.DangerousAddRef(ref added);
            try
            {
                // The budget is reserved for what the pipe holds, not for the most the caller would take; an empty pipe is asked
                // for one byte, only to learn whether it is at its end (or got a byte just now).
                var available = 0;
                _ = Native.ioctl((int)pipe.DangerousGetHandle(), Native.FIONREAD, &available);
                want = available > 0 ? Math.Min(count, available) : 1;
                provider.Reserve(want);
                // An explicit offset: splice(2) refuses a file opened for appending, and the sink's length is the truth anyway.
                var offset = _length;
                moved = Native.splice((int)pipe.DangerousGetHandle(), null, (int)_handle.DangerousGetHandle(), &offset, (nuint)want, Native.SPLICE_F_NONBLOCK);
                errno = moved < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            finally
            {
                pipe.DangerousRelease();
            }
            provider.Reserve(-(want - Math.Max(0, (int)moved)));
            if (moved < 0)
            {
                return errno == Native.EAGAIN ? -1
                    : throw (errno is Native.ENOSPC or Native.EDQUOT
                        ? new StorageFullException($"{path}: {Marshal.GetPInvokeErrorMessage(errno)}")
                        : new IOException($"{path}: splice: {Marshal.GetPInvokeErrorMessage(errno)}"));
            }
            _length += moved;
            return (int)moved;
        }

        public int Read(long offset, Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (offset >= _length)
            {
                return 0;
            }
            // Only bytes that were appended completely count (a failed append may have left a partial tail).
            var want = buffer[..(int)Math.Min(buffer.Length, _length - offset)];
            if (!_completed)
            {
                return RandomAccess.Read(_handle, want, offset);
            }
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return RandomAccess.Read(handle, want, offset);
        }

        /// <summary>The finished output goes to the device: a record saying the command finished never points at bytes a power cut lost.</summary>
        public void Complete()
        {
            if (!_closed && !_completed)
            {
                if (stream.CanWrite)
                {
                    stream.Flush(flushToDisk: true);
                }
                _completed = true;
                stream.Dispose();
            }
        }

        public void Delete()
        {
            try
            {
                File.Delete(path);
            }
            finally
            {
                Dispose();
            }
        }

        public void Dispose()
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            stream.Dispose();
            provider.Release(_length);
        }

        // Writing to an unlinked file succeeds and would hide the deletion; checking the path now and then
        // (not on every append: that would double the system calls) turns it into a failure the host handles.
        private void CheckStillLinked()
        {
            var now = Environment.TickCount64;
            if (now < _nextCheck)
            {
                return;
            }
            _nextCheck = now + (long)provider._options.DeletionCheckInterval.TotalMilliseconds;
            if (!File.Exists(path))
            {
                throw new IOException($"{path} was deleted (its directory was removed or cleaned)");
            }
        }
    }
}

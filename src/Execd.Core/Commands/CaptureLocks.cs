using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Execd.Core.Commands;

/// <summary>
/// The lock that tells a command's exit trap whether a daemon reads its pipes (issue 14): every daemon that runs commands in capture mode or
/// re-adopts them holds <c>capture/.daemon.lock</c> shared for its lifetime, taken before it re-adopts anything. A command's shell that
/// ends while no daemon is its parent drains what is left in its pipes into tail files only if it gets the lock exclusively (<c>flock -n</c>),
/// so it never steals bytes a re-adopting daemon reads; a daemon starting while a trap drains waits for it (bounded by <see cref="Wait"/>,
/// then logs and goes on). The same call makes <c>capture/</c> mode 0711 (a command run as a uid writes into files made for it there) and
/// the lock file 0644 (its shell must open it). The locks are released when the daemon exits or this object is disposed (host stop).
/// </summary>
public sealed class CaptureLocks : IDisposable
{
    /// <summary>The lock file's name in <c>capture/</c> (the shell executor's exit trap names the same file).</summary>
    public const string FileName = CaptureFiles.LockFileName;

    private const int LOCK_SH = 1;
    private const int LOCK_NB = 4;
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode LockMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly ConcurrentDictionary<string, Held> _held = new(StringComparer.Ordinal);
    private readonly ILogger<CaptureLocks> _logger;
    private bool _disposed;

    public CaptureLocks(ILogger<CaptureLocks> logger) => _logger = logger;

    /// <summary>How long a daemon waits for a draining exit trap to release the lock before it goes on without it.</summary>
    internal static TimeSpan Wait { get; set; } = TimeSpan.FromSeconds(5);

    private sealed class Held
    {
        public FileStream? Handle;
        public volatile bool Locked;
        public bool Unusable;
    }

    /// <summary>
    /// Holds <paramref name="captureDirectory"/>'s lock shared from now on (the first call per directory waits up to <see cref="Wait"/>
    /// for a draining trap; later calls cost a dictionary look-up). Returns whether it is held. A directory that does not exist is left alone
    /// (not created).
    /// </summary>
    public bool Hold(string captureDirectory)
    {
        var first = false;
        var held = _held.GetOrAdd(captureDirectory, _ =>
        {
            first = true;
            return new Held();
        });
        if (held.Locked)
        {
            return true;
        }
        lock (held)
        {
            if (held.Locked || held.Unusable || _disposed || !Directory.Exists(captureDirectory))
            {
                return held.Locked;
            }
            var deadline = DateTime.UtcNow + (first ? Wait : TimeSpan.Zero);
            while (true)
            {
                if (TryLock(captureDirectory, held))
                {
                    return true;
                }
                if (held.Unusable || DateTime.UtcNow >= deadline)
                {
                    break;
                }
                Thread.Sleep(20);
            }
            if (first && !held.Unusable)
            {
                _logger.LogWarning("{Lock}: still held by a command's exit trap draining its pipes after {Seconds:0} s; going on without it (re-adopted commands"
                    + " ending meanwhile may split their last output between the trap's tail files and this daemon)", Path.Combine(captureDirectory, FileName), Wait.TotalSeconds);
            }
            return false;
        }
    }

    private bool TryLock(string dir, Held held)
    {
        var path = Path.Combine(dir, FileName);
        try
        {
            if (held.Handle is null)
            {
                if ((File.GetUnixFileMode(dir) & DirectoryMode) != DirectoryMode)
                {
                    File.SetUnixFileMode(dir, DirectoryMode);
                }
                // Where .NET takes a shared flock of its own at open (not in the published daemon: System.IO.DisableFileLocking), the open
                // fails (IOException) while a trap holds it exclusively; the explicit flock below decides either way.
                held.Handle = new FileStream(path, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Read, Share = FileShare.ReadWrite, UnixCreateMode = LockMode });
                if (File.GetUnixFileMode(held.Handle.SafeFileHandle) != LockMode)
                {
                    File.SetUnixFileMode(held.Handle.SafeFileHandle, LockMode);
                }
            }
            held.Locked = flock(held.Handle.SafeFileHandle, LOCK_SH | LOCK_NB) == 0;
            return held.Locked;
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or DirectoryNotFoundException or PathTooLongException)
        {
            held.Unusable = true;
            _logger.LogWarning("{Lock} unusable: {Error}; commands' exit traps will drain their pipes even while this daemon reads them", path, ex.Message);
            return false;
        }
        catch (IOException)
        {
            return false;   // locked exclusively by a draining trap (.NET's own flock at open, where it takes one): tried again until the deadline
        }
    }

    public void Dispose()
    {
        foreach (var held in _held.Values)
        {
            lock (held)
            {
                _disposed = true;
                held.Locked = false;
                held.Handle?.Dispose();
            }
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int flock(SafeFileHandle fd, int operation);
}

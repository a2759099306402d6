using System.Runtime.InteropServices;

namespace Execd.Storage;

/// <summary>statvfs/statfs from libc: free space, free inodes, read-only flag and filesystem type.</summary>
internal static partial class Native
{
    internal const ulong ReadOnlyFlag = 1;          // ST_RDONLY
    internal const long TmpfsMagic = 0x01021994;    // TMPFS_MAGIC
    internal const long RamfsMagic = unchecked((long)0x858458f6);

    // glibc x86_64 and aarch64 layouts (LP64): 11 eight-byte fields, then spare; padded generously.
    [StructLayout(LayoutKind.Sequential)]
    internal struct StatVfs
    {
        public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
        public ulong Spare0, Spare1, Spare2, Spare3, Spare4, Spare5, Spare6, Spare7;
    }

    // Only f_type (the first field) is read; the rest is padding large enough for any LP64 layout.
    [StructLayout(LayoutKind.Sequential)]
    internal struct StatFs
    {
        public long Type;
        public ulong P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17, P18, P19;
    }

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatVfsNative(string path, out StatVfs buffer);

    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatFsNative(string path, out StatFs buffer);

    internal const uint SPLICE_F_NONBLOCK = 2;
    internal const nuint FIONREAD = 0x541B;

    // ioctl is variadic; with one pointer argument the fixed-argument call is the same on Linux x64 and arm64.
    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial int ioctl(int fd, nuint request, int* value);

    internal const int EAGAIN = 11, ENOSPC = 28, EDQUOT = 122;

    [LibraryImport("libc", SetLastError = true)]
    internal static unsafe partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);

    internal static StatVfs Vfs(string path)
    {
        if (StatVfsNative(path, out var buffer) != 0)
        {
            throw new IOException($"statvfs {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        return buffer;
    }

    internal static long FileSystemType(string path)
    {
        if (StatFsNative(path, out var buffer) != 0)
        {
            throw new IOException($"statfs {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        return buffer.Type;
    }

    /// <summary>The path itself, or its nearest ancestor that exists (to ask about the filesystem before creating anything).</summary>
    internal static string NearestExisting(string path)
    {
        var current = Path.GetFullPath(path);
        while (!Directory.Exists(current))
        {
            var parent = Path.GetDirectoryName(current);
            if (parent is null)
            {
                return "/";
            }
            current = parent;
        }
        return current;
    }
}

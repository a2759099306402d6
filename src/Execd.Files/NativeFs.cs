using System.Runtime.InteropServices;

namespace Execd.Files;

/// <summary>
/// The few POSIX calls .NET does not expose: <c>statx</c> without following links (owner, group, mode, type,
/// birth time in one call), <c>chown</c>, <c>rename</c> of a link itself, and <c>fsync</c> of a directory so a rename is durable.
/// </summary>
internal static partial class NativeFs
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStatsAndBirthTime = 0x07ffu | 0x0800u;
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;
    private const int OCloExec = 0x80000;

    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int ENOTDIR = 20;
    public const int ELOOP = 40;
    public const int ENAMETOOLONG = 36;

    /// <summary><c>struct statx</c>: its layout is the same on every Linux architecture (256 bytes).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(80)] public long BirthSec;
        [FieldOffset(88)] public uint BirthNsec;
        [FieldOffset(96)] public long ChangeSec;
        [FieldOffset(104)] public uint ChangeNsec;
        [FieldOffset(112)] public long ModifySec;
        [FieldOffset(120)] public uint ModifyNsec;
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxCall(int dirfd, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ChownCall(string path, int uid, int gid);

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameCall(string from, string to);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenCall(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncCall(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseCall(int fd);

    /// <summary><c>lstat</c>-like: a link is described, not followed. Returns 0 or the errno.</summary>
    public static int LStat(string path, out Statx buffer) =>
        StatxCall(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStatsAndBirthTime, out buffer) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>Changes owner and/or group (-1 keeps one). Throws <see cref="IOException"/> with the errno text.</summary>
    public static void Chown(string path, int uid, int gid)
    {
        if (ChownCall(path, uid, gid) != 0)
        {
            throw new IOException($"chown {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }

    /// <summary><c>rename(2)</c>: moves the entry itself (a link is moved, never what it points to). Throws <see cref="IOException"/> with the errno text.</summary>
    public static void Rename(string from, string to)
    {
        if (RenameCall(from, to) != 0)
        {
            throw new IOException($"rename {from} to {to}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }

    /// <summary>Best effort: makes a rename or create in <paramref name="directory"/> durable.</summary>
    public static void FsyncDirectory(string directory)
    {
        var fd = OpenCall(directory, ORdOnly | ODirectory | OCloExec);
        if (fd < 0)
        {
            return;
        }
        FsyncCall(fd);
        CloseCall(fd);
    }

    public const int TypeMask = 0xF000;
    public const int TypeLink = 0xA000;
    public const int TypeDirectory = 0x4000;
    public const int TypeRegular = 0x8000;
}

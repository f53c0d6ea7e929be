using System.Runtime.InteropServices;

namespace Emulator.Machine.SharedFolders;

/// <summary>
/// The Linux system calls a shared folder is served with, as thin wrappers that return -errno on
/// failure instead of throwing (a guest's request failing is ordinary, and its errno goes back to
/// the guest unchanged). Every call names a file relative to a directory descriptor, or through a
/// descriptor itself, never by a host path (see RATIONALE.md); the only absolute paths used are
/// /proc/self/fd/N, which name an inode already held.
/// </summary>
internal static unsafe partial class HostCalls
{
    public const int ReadOnly = 0, WriteOnly = 1, ReadWrite = 2, AccessMode = 3;
    public const int Create = 0x40, Exclusive = 0x80, NoCtty = 0x100, Truncate = 0x200, Append = 0x400, NonBlock = 0x800;
    public const int Directory = 0x10000, NoFollow = 0x20000, CloseOnExec = 0x80000, Path = 0x200000;
    public const int AtEmptyPath = 0x1000, AtSymlinkNoFollow = 0x100, AtRemoveDir = 0x200, AtSymlinkFollow = 0x400;
    public const int AtFdCwd = -100;

    public const uint TypeMask = 0xf000, TypeDirectory = 0x4000, TypeRegular = 0x8000, TypeSymlink = 0xa000;

    /// <summary>Opens one name under a directory descriptor without following a symbolic link (the descriptor of the link itself for O_PATH).</summary>
    public static int OpenAt(int dirFd, string name, int flags, uint mode = 0) => Result(openat(dirFd, name, flags | NoFollow | CloseOnExec, mode));

    /// <summary>Opens the inode <paramref name="fd"/> holds again with <paramref name="flags"/> (through /proc/self/fd: the same inode, whatever its name is now).</summary>
    public static int Reopen(int fd, int flags) => Result(open(ProcPath(fd), flags | CloseOnExec, 0));

    public static string ProcPath(int fd) => $"/proc/self/fd/{fd}";

    /// <summary>A second descriptor of the same open file (F_DUPFD_CLOEXEC).</summary>
    public static int Dup(int fd) => Result(fcntl(fd, 1030, 0));

    public static void Close(int fd)
    {
        if (fd >= 0)
        {
            close(fd);
        }
    }

    /// <summary>statx(2) of the descriptor itself (AT_EMPTY_PATH, not following a link).</summary>
    public static int Stat(int fd, out HostStat stat)
    {
        const uint BasicStats = 0x7ff;
        byte* buffer = stackalloc byte[256];
        int r = Result(statx(fd, "", AtEmptyPath | AtSymlinkNoFollow, BasicStats, buffer));
        stat = r < 0 ? default : new HostStat(buffer);
        return r;
    }

    public static long PRead(int fd, Span<byte> data, long offset)
    {
        fixed (byte* p = data)
        {
            return Result(pread(fd, p, (nuint)data.Length, offset));
        }
    }

    public static long PWrite(int fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* p = data)
        {
            return Result(pwrite(fd, p, (nuint)data.Length, offset));
        }
    }

    public static int Fsync(int fd) => Result(fsync(fd));

    public static int MkdirAt(int dirFd, string name, uint mode) => Result(mkdirat(dirFd, name, mode));

    public static int SymlinkAt(string target, int dirFd, string name) => Result(symlinkat(target, dirFd, name));

    /// <summary>A new name for the inode <paramref name="fd"/> holds (linkat through /proc/self/fd with AT_SYMLINK_FOLLOW, which needs no capability).</summary>
    public static int LinkAt(int fd, int dirFd, string name) => Result(linkat(AtFdCwd, ProcPath(fd), dirFd, name, AtSymlinkFollow));

    public static int UnlinkAt(int dirFd, string name, int flags) => Result(unlinkat(dirFd, name, flags));

    public static int RenameAt(int oldDirFd, string oldName, int newDirFd, string newName) => Result(renameat(oldDirFd, oldName, newDirFd, newName));

    /// <summary>The target of the symbolic link <paramref name="fd"/> holds (readlinkat with an empty name), as bytes.</summary>
    public static int ReadLink(int fd, out byte[] target)
    {
        var buffer = new byte[4096];
        fixed (byte* p = buffer)
        {
            long n = Result(readlinkat(fd, "", p, (nuint)buffer.Length));
            target = n < 0 ? [] : buffer.AsSpan(0, (int)n).ToArray();
            return (int)Math.Min(n, 0);
        }
    }

    public static int Chmod(int fd, uint mode) => Result(chmod(ProcPath(fd), mode));

    public static int Chown(int fd, uint uid, uint gid) => Result(fchownat(fd, "", uid, gid, AtEmptyPath | AtSymlinkNoFollow));

    public static int TruncateFile(int fd, long size) => Result(truncate(ProcPath(fd), size));

    /// <summary>utimensat through /proc/self/fd; a time of (0, UTIME_OMIT) leaves it, (0, UTIME_NOW) sets now.</summary>
    public static int SetTimes(int fd, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec)
    {
        long* times = stackalloc long[4] { atimeSec, atimeNsec, mtimeSec, mtimeNsec };
        return Result(utimensat(AtFdCwd, ProcPath(fd), times, 0));
    }

    public const long UtimeNow = (1L << 30) - 1, UtimeOmit = (1L << 30) - 2;

    /// <summary>fstatfs(2): type, block size, blocks, free, available, files, free files, fsid, name length.</summary>
    public static int StatFs(int fd, out (uint Type, uint BlockSize, ulong Blocks, ulong Free, ulong Available, ulong Files, ulong FreeFiles, ulong FsId, uint NameLength) fs)
    {
        // struct statfs on x86-64 and arm64: nine 8-byte fields, f_fsid (8 bytes) at 56, f_namelen at 64.
        long* b = stackalloc long[16];
        int r = Result(fstatfs(fd, b));
        fs = r < 0 ? default : ((uint)b[0], (uint)b[1], (ulong)b[2], (ulong)b[3], (ulong)b[4], (ulong)b[5], (ulong)b[6], (ulong)b[7], (uint)b[8]);
        return r;
    }

    /// <summary>Reads directory entries (getdents64) into <paramref name="buffer"/> from the directory position <paramref name="offset"/> (a d_off cookie, 0 the start).</summary>
    public static long ReadDirectory(int fd, long offset, Span<byte> buffer)
    {
        const int SeekSet = 0;
        if (lseek(fd, offset, SeekSet) < 0)
        {
            return -Marshal.GetLastPInvokeError();
        }

        fixed (byte* p = buffer)
        {
            return Result(getdents64(fd, p, (nuint)buffer.Length));
        }
    }

    private static int Result(int r) => r < 0 ? -Marshal.GetLastPInvokeError() : r;

    private static long Result(long r) => r < 0 ? -Marshal.GetLastPInvokeError() : r;

    private static long Result(nint r) => r < 0 ? -Marshal.GetLastPInvokeError() : r;

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mkdirat(int dirfd, string path, uint mode);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int symlinkat(string target, int dirfd, string path);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int renameat(int olddirfd, string oldpath, int newdirfd, string newpath);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint readlinkat(int dirfd, string path, byte* buffer, nuint size);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int chmod(string path, uint mode);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int fchownat(int dirfd, string path, uint uid, uint gid, int flags);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int truncate(string path, long length);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int utimensat(int dirfd, string path, long* times, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstatfs(int fd, long* buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint getdents64(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int command, int argument);
}

/// <summary>The fields of struct statx (include/uapi/linux/stat.h; one layout on every architecture) a Rgetattr needs.</summary>
internal readonly struct HostStat
{
    public unsafe HostStat(byte* b)
    {
        BlockSize = *(uint*)(b + 4);
        Links = *(uint*)(b + 16);
        Uid = *(uint*)(b + 20);
        Gid = *(uint*)(b + 24);
        Mode = *(ushort*)(b + 28);
        Inode = *(ulong*)(b + 32);
        Size = *(ulong*)(b + 40);
        Blocks = *(ulong*)(b + 48);
        AtimeSec = *(long*)(b + 64);
        AtimeNsec = *(uint*)(b + 72);
        BtimeSec = *(long*)(b + 80);
        BtimeNsec = *(uint*)(b + 88);
        CtimeSec = *(long*)(b + 96);
        CtimeNsec = *(uint*)(b + 104);
        MtimeSec = *(long*)(b + 112);
        MtimeNsec = *(uint*)(b + 120);
        RdevMajor = *(uint*)(b + 128);
        RdevMinor = *(uint*)(b + 132);
    }

    public uint BlockSize { get; }
    public uint Links { get; }
    public uint Uid { get; }
    public uint Gid { get; }
    public uint Mode { get; }
    public ulong Inode { get; }
    public ulong Size { get; }
    public ulong Blocks { get; }
    public long AtimeSec { get; }
    public uint AtimeNsec { get; }
    public long BtimeSec { get; }
    public uint BtimeNsec { get; }
    public long CtimeSec { get; }
    public uint CtimeNsec { get; }
    public long MtimeSec { get; }
    public uint MtimeNsec { get; }
    public uint RdevMajor { get; }
    public uint RdevMinor { get; }

    public uint Type => Mode & HostCalls.TypeMask;

    /// <summary>The Linux dev_t encoding of the device numbers (new_encode_dev, as stat(2) gives it).</summary>
    public ulong Rdev => ((ulong)RdevMajor << 8 & 0xfff00) | (RdevMinor & 0xff) | ((ulong)(RdevMinor & ~0xffu) << 12) | ((ulong)(RdevMajor & ~0xfffu) << 32);
}

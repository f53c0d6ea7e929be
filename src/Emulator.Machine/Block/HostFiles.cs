using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Emulator.Machine.Block;

/// <summary>
/// What the host kernel says about a file, for confinement: the real path of a directory, the path
/// an open descriptor really refers to, and its hard link count. A check on a name is lexical: a
/// symbolic link inside an allowed directory leads out of it, and the name can be swapped between
/// the check and the open. A check on the opened descriptor sees the file that will be read.
/// Linux only: it reads /proc/self/fd and struct stat as x86-64 and arm64 lay it out.
/// </summary>
public static unsafe partial class HostFiles
{
    /// <summary>The real path of an existing file or directory (realpath(3)): absolute, no symbolic links, no "." or "..".</summary>
    public static string RealPath(string path)
    {
        byte* resolved = realpath(path, null);
        if (resolved is null)
        {
            throw new IOException($"cannot resolve {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }

        try
        {
            return Marshal.PtrToStringUTF8((nint)resolved)!;
        }
        finally
        {
            // realpath(3) with a null buffer returns memory from malloc; NativeMemory.Free is free(3) on Unix.
            NativeMemory.Free(resolved);
        }
    }

    /// <summary>
    /// The path the kernel opened <paramref name="handle"/> at: the target of /proc/self/fd/N
    /// (proc(5)), which has every symbolic link resolved. A file removed since it was opened reads
    /// "path (deleted)"; its link count is then 0, which <see cref="LinkCount"/> reports.
    /// </summary>
    public static string OpenedPath(SafeFileHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            // On Unix a SafeFileHandle's handle is the file descriptor; the AddRef keeps it from being closed and reused meanwhile.
            string link = $"/proc/self/fd/{handle.DangerousGetHandle()}";
            return new FileInfo(link).LinkTarget ?? throw new IOException($"{link} is not a symbolic link: is /proc mounted?");
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>st_nlink of the open file (fstat(2)): how many directory entries name it.</summary>
    public static ulong LinkCount(SafeFileHandle handle)
    {
        // struct stat from the kernel's asm/stat.h: on x86-64 st_dev and st_ino (8 bytes each) come
        // first, then st_nlink as 8 bytes; on arm64 (asm-generic/stat.h) st_dev, st_ino, a 4-byte
        // st_mode, then st_nlink as 4 bytes. The structs are 144 and 128 bytes long.
        const int StatBytes = 256;
        byte* stat = stackalloc byte[StatBytes];
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (fstat((int)handle.DangerousGetHandle(), stat) != 0)
            {
                throw new IOException($"fstat failed: {Marshal.GetLastPInvokeErrorMessage()}");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }

        return RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => *(ulong*)(stat + 16),
            Architecture.Arm64 => *(uint*)(stat + 20),
            var other => throw new PlatformNotSupportedException($"the struct stat layout of {other} is not known here"),
        };
    }

    /// <summary>
    /// The bytes a regular file occupies on disk (st_blocks * 512 from lstat(2)); 0 for anything
    /// else (links, FIFOs, devices: never opened here) or a file that vanished meanwhile.
    /// </summary>
    public static long AllocatedBytes(string path)
    {
        // struct stat: st_mode at 24 (x86-64) or 16 (arm64), st_blocks at 64 on both.
        const int StatBytes = 256;
        byte* stat = stackalloc byte[StatBytes];
        if (lstat(path, stat) != 0)
        {
            return 0;
        }

        const uint TypeMask = 0xf000, Regular = 0x8000;
        return (Mode(stat) & TypeMask) == Regular ? *(long*)(stat + 64) * 512 : 0;
    }

    /// <summary>
    /// Opens a regular file for reading (shared lock) or for reading and writing (exclusive lock),
    /// as FileStream's FileShare.Read and FileShare.None do, without ever blocking: opened with
    /// O_NONBLOCK, so a FIFO or device put where a disk or kernel was expected does not hang the
    /// caller, then refused unless fstat says it is a regular file. Throws IOException with why.
    /// </summary>
    public static SafeFileHandle OpenRegular(string path, bool write)
    {
        const int ReadOnly = 0, ReadWrite = 2, NonBlock = 0x800, CloseOnExec = 0x80000;
        const int LockShared = 1, LockExclusive = 2, LockNonBlock = 4;
        int fd = open(path, (write ? ReadWrite : ReadOnly) | NonBlock | CloseOnExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string why = Marshal.GetPInvokeErrorMessage(errno);
            throw errno switch
            {
                2 => new FileNotFoundException($"{path}: {why}", path), // ENOENT
                13 or 1 => new UnauthorizedAccessException($"{path}: {why}"), // EACCES, EPERM
                _ => new IOException($"{path}: {why}"),
            };
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            const int StatBytes = 256;
            byte* stat = stackalloc byte[StatBytes];
            if (fstat(fd, stat) != 0)
            {
                throw new IOException($"{path}: fstat failed: {Marshal.GetLastPInvokeErrorMessage()}");
            }

            if ((Mode(stat) & 0xf000) != 0x8000)
            {
                throw new IOException($"{path} is not a regular file");
            }

            Lock(fd, path, (write ? LockExclusive : LockShared) | LockNonBlock);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes the lock, retrying for a moment while it is held: a file this process has just closed
    /// (a snapshot's freeze reopens its top layer) stays locked while a child process forked
    /// meanwhile (any Process.Start) holds its copy of the descriptor until it executes, a window
    /// of microseconds to milliseconds. A lock held longer is another user's: refused.
    /// </summary>
    private static void Lock(int fd, string path, int operation)
    {
        const int WouldBlock = 11; // EWOULDBLOCK (EAGAIN)
        var waited = System.Diagnostics.Stopwatch.StartNew();
        for (int pause = 1; flock(fd, operation) != 0; pause = Math.Min(pause * 2, 50))
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != WouldBlock)
            {
                throw new IOException($"{path}: cannot lock it: {Marshal.GetPInvokeErrorMessage(errno)}");
            }

            if (waited.Elapsed > LockRetry)
            {
                throw new IOException($"{path} is in use (locked by another process or machine)");
            }

            Thread.Sleep(pause);
        }
    }

    /// <summary>How long a held lock is retried before the file counts as in use.</summary>
    private static readonly TimeSpan LockRetry = TimeSpan.FromSeconds(1);

    private static uint Mode(byte* stat) => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => *(uint*)(stat + 24),
        Architecture.Arm64 => *(uint*)(stat + 16),
        var other => throw new PlatformNotSupportedException($"the struct stat layout of {other} is not known here"),
    };

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int lstat(string path, byte* stat);

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial byte* realpath(string path, byte* resolved);

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int fstat(int fd, byte* stat);
}

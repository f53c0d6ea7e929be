using System.Text;
using Emulator.Devices.Virtio9p;

namespace Emulator.Machine.SharedFolders;

/// <summary>Bounds of one share's 9P session (per machine and share).</summary>
public sealed record P9ServerLimits
{
    /// <summary>The most fids at once; an attach or walk beyond gets EMFILE.</summary>
    public int MaxFids { get; init; } = 2048;

    /// <summary>The most fids opened for I/O at once; a Tlopen or Tlcreate beyond gets EMFILE.</summary>
    public int MaxOpenFiles { get; init; } = 512;

    /// <summary>The largest msize agreed in Tversion (Linux's virtio transport asks for at most 500 KiB).</summary>
    public uint MaxMsize { get; init; } = 512 * 1024;
}

/// <summary>
/// A 9P2000.L server for one host directory (see RATIONALE.md): parses each T-message, performs
/// it on the share through <see cref="HostCalls"/> and returns the R-message, or an Rlerror with
/// the Linux errno. Every file it touches is reached from the share's root descriptor one name at
/// a time without following symbolic links; ".." never goes above the root; a read-only share
/// refuses every change with EROFS; fids and open files are bounded. A malformed message (short,
/// a string past its end, an unknown type, an unknown fid) gets an Rlerror, never an exception.
/// Not thread-safe: the shared-folder backend actor calls it one message at a time.
/// </summary>
public sealed partial class P9Server : IDisposable
{
    private const int MaxWalkNames = 16; // MAXWELEM
    private const int MaxNameBytes = 255; // NAME_MAX
    private const int RreadHeader = P9Type.HeaderSize + 4;

    private int rootFd;
    private readonly Dictionary<uint, P9Fid> fids = [];
    private readonly P9ServerLimits limits;
    private int openFiles;
    private uint msize;

    /// <summary>
    /// Opens the share's root. Throws <see cref="IOException"/> when it is not a directory that can
    /// be opened, and <see cref="Block.BackingFileRefusedException"/> when the directory opened lies
    /// outside <paramref name="confinement"/> (judged by the path the kernel opened).
    /// </summary>
    public P9Server(string root, bool readOnly, P9ServerLimits? limits = null, Block.BackingPolicy? confinement = null)
    {
        Root = root;
        ReadOnly = readOnly;
        this.limits = limits ?? new P9ServerLimits();

        // The root is the one path the host resolves, once: the user named it (and a server checked it).
        rootFd = OpenRoot(root);
        if (confinement is not null)
        {
            using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(rootFd, ownsHandle: false);
            string opened = Block.HostFiles.OpenedPath(handle);
            if (!confinement.AllowsDirectory(opened))
            {
                HostCalls.Close(rootFd);
                throw new Block.BackingFileRefusedException("the request", opened, "lies outside the allowed directories; refused");
            }
        }
    }

    public string Root { get; }

    public bool ReadOnly { get; }

    /// <summary>Fids in use.</summary>
    public int FidCount => fids.Count;

    public int OpenFileCount => openFiles;

    /// <summary>Requests answered with Rlerror because they did not parse or named no fid (malformed by the guest).</summary>
    public long Malformed { get; private set; }

    private static int OpenRoot(string root)
    {
        // Links in the name the user gave are the user's choice: resolved here, once, and never again.
        string real;
        try
        {
            real = Block.HostFiles.RealPath(root);
        }
        catch (IOException e)
        {
            throw new IOException($"shared folder {root}: {e.Message}", e);
        }

        int fd = HostCalls.OpenAt(HostCalls.AtFdCwd, real, HostCalls.Path | HostCalls.Directory);
        if (fd < 0)
        {
            throw new IOException($"shared folder {root}: cannot open it as a directory (errno {-fd})");
        }

        return fd;
    }

    /// <summary>Handles one message; the reply is at most <paramref name="replyCapacity"/> bytes (an Rlerror if the answer would not fit).</summary>
    public byte[] Handle(ReadOnlySpan<byte> message, int replyCapacity)
    {
        if (message.Length < P9Type.HeaderSize)
        {
            Malformed++;
            return Error(P9Type.NoTag, P9Errno.EBADMSG);
        }

        var r = new P9Reader(message);
        r.U32();
        byte type = r.U8();
        ushort tag = r.U16();
        int capacity = (int)Math.Min((uint)Math.Max(replyCapacity, 0), msize == 0 ? limits.MaxMsize : msize);
        byte[] reply;
        try
        {
            if (msize == 0 && type != P9Type.Tversion)
            {
                throw new P9Error(P9Errno.EPROTO); // Tversion comes first
            }

            reply = Dispatch(type, tag, ref r, capacity);
        }
        catch (P9FormatException e)
        {
            Malformed++;
            reply = Error(tag, e.Errno);
        }
        catch (P9Error e)
        {
            reply = Error(tag, e.Errno);
        }
        catch (OverflowException)
        {
            Malformed++;
            reply = Error(tag, P9Errno.EINVAL);
        }

        return reply.Length <= Math.Max(replyCapacity, 11) ? reply : Error(tag, P9Errno.ERANGE);
    }

    private byte[] Dispatch(byte type, ushort tag, ref P9Reader r, int capacity) => type switch
    {
        P9Type.Tversion => Version(tag, ref r),
        P9Type.Tattach => Attach(tag, ref r),
        P9Type.Twalk => Walk(tag, ref r),
        P9Type.Tgetattr => GetAttr(tag, ref r),
        P9Type.Tsetattr => SetAttr(tag, ref r),
        P9Type.Tlopen => Open(tag, ref r),
        P9Type.Tlcreate => Create(tag, ref r),
        P9Type.Tread => Read(tag, ref r, capacity),
        P9Type.Twrite => Write(tag, ref r),
        P9Type.Tclunk => Clunk(tag, ref r),
        P9Type.Tremove => Remove(tag, ref r),
        P9Type.Treaddir => ReadDir(tag, ref r, capacity),
        P9Type.Tmkdir => MakeDirectory(tag, ref r),
        P9Type.Tunlinkat => UnlinkAt(tag, ref r),
        P9Type.Trenameat => RenameAt(tag, ref r),
        P9Type.Trename => Rename(tag, ref r),
        P9Type.Tstatfs => StatFs(tag, ref r),
        P9Type.Tfsync => Fsync(tag, ref r),
        P9Type.Treadlink => ReadLink(tag, ref r),
        P9Type.Tsymlink => Symlink(tag, ref r),
        P9Type.Tlink => Link(tag, ref r),
        P9Type.Tmknod => throw new P9Error(ReadOnly ? P9Errno.EROFS : P9Errno.EPERM), // device nodes and FIFOs are not made in a share
        P9Type.Txattrwalk or P9Type.Txattrcreate => throw new P9Error(P9Errno.EOPNOTSUPP),
        P9Type.Tlock => Lock(tag, ref r),
        P9Type.Tgetlock => GetLock(tag, ref r),
        P9Type.Tflush => Flush(tag, ref r),
        P9Type.Tauth => throw new P9Error(P9Errno.EOPNOTSUPP), // no authentication: the share is the machine's
        _ => Unknown(),
    };

    private byte[] Unknown()
    {
        Malformed++;
        throw new P9Error(P9Errno.EOPNOTSUPP);
    }

    private static byte[] Error(ushort tag, uint errno) => new P9Writer(P9Type.Rlerror, tag).U32(errno).Finish();

    private static byte[] Empty(byte type, ushort tag) => new P9Writer((byte)(type + 1), tag).Finish();

    /// <summary>The fid <paramref name="id"/>; EBADF when there is none, ESTALE when its file vanished across a restore.</summary>
    private P9Fid Get(uint id)
    {
        if (!fids.TryGetValue(id, out var fid))
        {
            Malformed++;
            throw new P9Error(P9Errno.EBADF);
        }

        return fid.Stale ? throw new P9Error(P9Errno.ESTALE) : fid;
    }

    private void NotReadOnly()
    {
        if (ReadOnly)
        {
            throw new P9Error(P9Errno.EROFS);
        }
    }

    /// <summary>
    /// A guest-supplied name of one directory entry: not empty, not "." or "..", no '/' or NUL, at
    /// most NAME_MAX bytes. (Twalk handles ".." itself, before this.)
    /// </summary>
    private static string CheckName(string name)
    {
        if (name.Length == 0 || name == "." || name == ".." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new P9Error(P9Errno.EINVAL);
        }

        return Encoding.UTF8.GetByteCount(name) > MaxNameBytes ? throw new P9Error(P9Errno.ENAMETOOLONG) : name;
    }

    /// <summary>Opens a path relative to the share (O_PATH), one component at a time from the root, following no link; -errno on failure.</summary>
    private int OpenPath(string path)
    {
        int fd = HostCalls.OpenAt(rootFd, ".", HostCalls.Path | HostCalls.Directory);
        if (path.Length == 0 || fd < 0)
        {
            return fd;
        }

        foreach (string name in path.Split('/'))
        {
            int next = name is "" or "." or ".." ? -(int)P9Errno.EINVAL : HostCalls.OpenAt(fd, name, HostCalls.Path);
            HostCalls.Close(fd);
            if (next < 0)
            {
                return next;
            }

            fd = next;
        }

        return fd;
    }

    private static P9Qid Qid(in HostStat st) => new(
        st.Type switch
        {
            HostCalls.TypeDirectory => P9Type.QidDirectory,
            HostCalls.TypeSymlink => P9Type.QidSymlink,
            _ => P9Type.QidFile,
        },
        0,
        st.Inode);

    private static HostStat Stat(int fd)
    {
        P9Error.Check(HostCalls.Stat(fd, out var st));
        return st;
    }

    private P9Fid AddFid(uint id, int pathFd, string path)
    {
        if (fids.Count >= limits.MaxFids)
        {
            HostCalls.Close(pathFd);
            throw new P9Error(P9Errno.EMFILE);
        }

        var fid = new P9Fid { PathFd = pathFd, Path = path };
        fids[id] = fid;
        return fid;
    }

    private void RemoveFid(uint id)
    {
        if (fids.Remove(id, out var fid))
        {
            if (fid.IsOpen)
            {
                openFiles--;
            }

            fid.Close();
        }
    }

    private void ClunkAll()
    {
        foreach (uint id in fids.Keys.ToList())
        {
            RemoveFid(id);
        }
    }

    /// <summary>After a rename, fids at or under the old path name the new one.</summary>
    private void Renamed(string from, string to)
    {
        foreach (var fid in fids.Values)
        {
            if (fid.Path == from)
            {
                fid.Path = to;
            }
            else if (fid.Path.StartsWith(from + "/", StringComparison.Ordinal))
            {
                fid.Path = to + fid.Path[from.Length..];
            }
        }
    }

    /// <summary>The session for a snapshot (call with no message being handled).</summary>
    public P9Session Save() => new(msize, [.. fids.Select(f => new P9SavedFid(f.Key, f.Value.Path, f.Value.OpenFlags))]);

    /// <summary>
    /// Replaces the session with a saved one: each fid re-opened by its path, confined as a walk is
    /// (one component at a time from the root, following no link); an open fid opened again with its
    /// flags less O_CREAT, O_EXCL and O_TRUNC. A fid whose path is gone, or cannot be opened again,
    /// is kept stale (ESTALE) rather than failing the restore. Returns how many are stale.
    /// </summary>
    public int Restore(P9Session session)
    {
        ClunkAll();
        msize = Math.Min(session.Msize, limits.MaxMsize);
        int stale = 0;
        foreach (var saved in session.Fids.Take(limits.MaxFids))
        {
            var fid = new P9Fid { Path = saved.Path };
            fids[saved.Fid] = fid;
            int fd = saved.Path.Split('/').Any(c => c is "." or "..") ? -1 : OpenPath(saved.Path);
            if (fd >= 0 && saved.OpenFlags >= 0)
            {
                int flags = saved.OpenFlags & ~(HostCalls.Create | HostCalls.Exclusive | HostCalls.Truncate);
                int open = openFiles < limits.MaxOpenFiles && (!ReadOnly || (flags & HostCalls.AccessMode) == HostCalls.ReadOnly) ? OpenForIo(fd, flags) : -1;
                if (open < 0)
                {
                    HostCalls.Close(fd);
                    fd = -1;
                }
                else
                {
                    fid.OpenFd = open;
                    fid.OpenFlags = flags;
                    openFiles++;
                }
            }

            fid.PathFd = fd;
            stale += fd < 0 ? 1 : 0;
        }

        return stale;
    }

    /// <summary>Closes every fid and the root (again: nothing).</summary>
    public void Dispose()
    {
        ClunkAll();
        HostCalls.Close(rootFd);
        rootFd = -1;
    }
}

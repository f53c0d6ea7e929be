using System.Buffers.Binary;
using Emulator.Devices.Virtio9p;

namespace Emulator.Machine.SharedFolders;

/// <summary>One method per 9P2000.L request (the layouts are those of the Linux client's net/9p/client.c).</summary>
public sealed partial class P9Server
{
    // Tsetattr valid bits (include/net/9p/9p.h P9_ATTR_*).
    private const uint AttrMode = 0x1, AttrUid = 0x2, AttrGid = 0x4, AttrSize = 0x8, AttrAtime = 0x10, AttrMtime = 0x20, AttrAtimeSet = 0x80, AttrMtimeSet = 0x100;

    // Rgetattr valid mask: P9_STATS_BASIC | P9_STATS_BTIME.
    private const ulong StatsReturned = 0x7ff | 0x800;

    // Tlopen flags kept (the P9_DOTL_* values are Linux's O_* values): access mode, truncate, the sync modes.
    private const int DSync = 0x1000, Sync = 0x101000;
    private const int KeptOpenFlags = HostCalls.AccessMode | HostCalls.Truncate | DSync | Sync;

    /// <summary>Tversion msize[4] version[s]: agrees on msize and the version, and ends every fid of the previous session.</summary>
    private byte[] Version(ushort tag, ref P9Reader r)
    {
        uint asked = r.U32();
        string version = r.Str();
        if (asked < 4096)
        {
            throw new P9Error(P9Errno.EINVAL);
        }

        ClunkAll();
        msize = Math.Min(asked, limits.MaxMsize);
        return new P9Writer(P9Type.Tversion + 1, tag).U32(msize).Str(version == P9Type.Version ? P9Type.Version : "unknown").Finish();
    }

    /// <summary>Tattach fid[4] afid[4] uname[s] aname[s] n_uname[4]: fid becomes the share's root (aname is not used: one share per device).</summary>
    private byte[] Attach(ushort tag, ref P9Reader r)
    {
        uint id = r.U32();
        r.U32();
        r.Str();
        r.Str();
        r.U32();
        if (fids.ContainsKey(id))
        {
            throw new P9Error(P9Errno.EBADF);
        }

        int fd = P9Error.Check(HostCalls.OpenAt(rootFd, ".", HostCalls.Path | HostCalls.Directory));
        var fid = AddFid(id, fd, "");
        return new P9Writer(P9Type.Tattach + 1, tag).Qid(Qid(Stat(fid.PathFd))).Finish();
    }

    /// <summary>
    /// Twalk fid[4] newfid[4] nwname[2] nwname*(wname[s]): one name at a time from fid's
    /// descriptor (O_PATH | O_NOFOLLOW: a symbolic link is reached, never followed); ".." is the
    /// fid's parent by its path, and the root's parent is the root. A walk that fails on the first
    /// name is an Rlerror; one that fails later returns the qids so far and leaves newfid unused.
    /// </summary>
    private byte[] Walk(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        uint newId = r.U32();
        int count = r.U16();
        if (count > MaxWalkNames)
        {
            throw new P9Error(P9Errno.EINVAL);
        }

        var names = new string[count];
        for (int i = 0; i < count; i++)
        {
            names[i] = r.Str();
        }

        bool replaces = fids.TryGetValue(newId, out var existing) && existing == fid;
        if (!replaces && fids.ContainsKey(newId))
        {
            throw new P9Error(P9Errno.EBADF); // newfid in use
        }

        if (fid.IsOpen)
        {
            throw new P9Error(P9Errno.EBADF); // 9P: an open fid cannot be walked
        }

        var qids = new List<P9Qid>();
        int fd = P9Error.Check(HostCalls.Dup(fid.PathFd));
        string path = fid.Path;
        foreach (string name in names)
        {
            int next;
            string nextPath;
            if (name == "..")
            {
                nextPath = P9Fid.Parent(path);
                next = OpenPath(nextPath);
            }
            else
            {
                uint bad = name.Length == 0 || name == "." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal) ? P9Errno.EINVAL : 0;
                nextPath = P9Fid.Join(path, name);
                next = bad != 0 ? -(int)bad : HostCalls.OpenAt(fd, name, HostCalls.Path);
            }

            HostStat st = default;
            int stat = next < 0 ? next : HostCalls.Stat(next, out st);
            if (stat < 0)
            {
                HostCalls.Close(next);
                HostCalls.Close(fd);
                if (qids.Count == 0)
                {
                    throw new P9Error((uint)-stat);
                }

                return Walked(tag, qids);
            }

            qids.Add(Qid(st));
            HostCalls.Close(fd);
            fd = next;
            path = nextPath;
        }

        if (replaces)
        {
            HostCalls.Close(fid.PathFd);
            fid.PathFd = fd;
            fid.Path = path;
        }
        else
        {
            AddFid(newId, fd, path);
        }

        return Walked(tag, qids);
    }

    private static byte[] Walked(ushort tag, List<P9Qid> qids)
    {
        var w = new P9Writer(P9Type.Twalk + 1, tag).U16((ushort)qids.Count);
        qids.ForEach(q => w.Qid(q));
        return w.Finish();
    }

    /// <summary>Tgetattr fid[4] request_mask[8]: the basic fields and the birth time, whatever was asked.</summary>
    private byte[] GetAttr(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        r.U64();
        var st = Stat(fid.PathFd);
        return new P9Writer(P9Type.Tgetattr + 1, tag, 160)
            .U64(StatsReturned).Qid(Qid(st))
            .U32(st.Mode).U32(st.Uid).U32(st.Gid).U64(st.Links).U64(st.Rdev).U64(st.Size).U64(st.BlockSize).U64(st.Blocks)
            .U64((ulong)st.AtimeSec).U64(st.AtimeNsec).U64((ulong)st.MtimeSec).U64(st.MtimeNsec).U64((ulong)st.CtimeSec).U64(st.CtimeNsec)
            .U64((ulong)st.BtimeSec).U64(st.BtimeNsec).U64(0).U64(0)
            .Finish();
    }

    /// <summary>Tsetattr fid[4] valid[4] mode[4] uid[4] gid[4] size[8] atime[8+8] mtime[8+8]: applied through the fid's own inode.</summary>
    private byte[] SetAttr(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        uint valid = r.U32(), mode = r.U32(), uid = r.U32(), gid = r.U32();
        ulong size = r.U64();
        long atimeSec = (long)r.U64(), atimeNsec = (long)r.U64(), mtimeSec = (long)r.U64(), mtimeNsec = (long)r.U64();
        NotReadOnly();
        var st = Stat(fid.PathFd);
        bool symlink = st.Type == HostCalls.TypeSymlink;

        // A link is changed only in its owner (chmod, truncate and utimensat through /proc would reach its target's name).
        if (symlink && (valid & (AttrMode | AttrSize | AttrAtime | AttrMtime)) != 0)
        {
            throw new P9Error(P9Errno.EOPNOTSUPP);
        }

        if ((valid & AttrMode) != 0)
        {
            P9Error.Check(HostCalls.Chmod(fid.PathFd, mode & 0xfff));
        }

        if ((valid & (AttrUid | AttrGid)) != 0)
        {
            P9Error.Check(HostCalls.Chown(fid.PathFd, (valid & AttrUid) != 0 ? uid : uint.MaxValue, (valid & AttrGid) != 0 ? gid : uint.MaxValue));
        }

        if ((valid & AttrSize) != 0)
        {
            if (st.Type != HostCalls.TypeRegular)
            {
                throw new P9Error(st.Type == HostCalls.TypeDirectory ? P9Errno.EISDIR : P9Errno.EINVAL);
            }

            P9Error.Check(HostCalls.TruncateFile(fid.PathFd, checked((long)size)));
        }

        if ((valid & (AttrAtime | AttrMtime)) != 0)
        {
            (long aSec, long aNsec) = (valid & AttrAtime) == 0 ? (0, HostCalls.UtimeOmit) : (valid & AttrAtimeSet) != 0 ? (atimeSec, atimeNsec) : (0, HostCalls.UtimeNow);
            (long mSec, long mNsec) = (valid & AttrMtime) == 0 ? (0, HostCalls.UtimeOmit) : (valid & AttrMtimeSet) != 0 ? (mtimeSec, mtimeNsec) : (0, HostCalls.UtimeNow);
            P9Error.Check(HostCalls.SetTimes(fid.PathFd, aSec, aNsec, mSec, mNsec));
        }

        return Empty(P9Type.Tsetattr, tag);
    }

    /// <summary>
    /// Opens the inode of an O_PATH descriptor for I/O: only regular files and directories (a
    /// FIFO would block the backend, a device node would hand the guest a host device, a link
    /// is the guest's to follow). Non-blocking, no controlling terminal.
    /// </summary>
    private static int OpenForIo(int pathFd, int flags)
    {
        int stat = HostCalls.Stat(pathFd, out var st);
        if (stat < 0)
        {
            return stat;
        }

        if (st.Type == HostCalls.TypeDirectory)
        {
            return (flags & HostCalls.AccessMode) != HostCalls.ReadOnly ? -(int)P9Errno.EISDIR
                : HostCalls.Reopen(pathFd, HostCalls.ReadOnly | HostCalls.Directory | HostCalls.NonBlock);
        }

        if (st.Type != HostCalls.TypeRegular)
        {
            return st.Type == HostCalls.TypeSymlink ? -(int)P9Errno.ELOOP : -(int)P9Errno.EACCES;
        }

        return HostCalls.Reopen(pathFd, (flags & KeptOpenFlags) | HostCalls.NonBlock | HostCalls.NoCtty);
    }

    /// <summary>Tlopen fid[4] flags[4]: Rlopen qid[13] iounit[4] (0: the client uses msize).</summary>
    private byte[] Open(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        int flags = (int)r.U32();
        if (fid.IsOpen)
        {
            throw new P9Error(P9Errno.EBADF);
        }

        if ((flags & HostCalls.AccessMode) == HostCalls.AccessMode)
        {
            throw new P9Error(P9Errno.EINVAL);
        }

        if (ReadOnly && ((flags & HostCalls.AccessMode) != HostCalls.ReadOnly || (flags & (HostCalls.Truncate | HostCalls.Create)) != 0))
        {
            throw new P9Error(P9Errno.EROFS);
        }

        if (openFiles >= limits.MaxOpenFiles)
        {
            throw new P9Error(P9Errno.EMFILE);
        }

        flags &= KeptOpenFlags;
        fid.OpenFd = P9Error.Check(OpenForIo(fid.PathFd, flags));
        fid.OpenFlags = flags;
        openFiles++;
        return new P9Writer(P9Type.Tlopen + 1, tag).Qid(Qid(Stat(fid.PathFd))).U32(0).Finish();
    }

    /// <summary>
    /// Tlcreate fid[4] name[s] flags[4] mode[4] gid[4]: creates name in the directory fid (O_CREAT
    /// with O_NOFOLLOW: an existing link there is not followed) and fid becomes the new file, open.
    /// </summary>
    private byte[] Create(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        string name = r.Str();
        int flags = (int)r.U32();
        uint mode = r.U32();
        r.U32();
        NotReadOnly();
        CheckName(name);
        if (fid.IsOpen)
        {
            throw new P9Error(P9Errno.EBADF);
        }

        if (openFiles >= limits.MaxOpenFiles)
        {
            throw new P9Error(P9Errno.EMFILE);
        }

        int keep = (flags & KeptOpenFlags) | (flags & HostCalls.Exclusive);
        int fd = P9Error.Check(HostCalls.OpenAt(fid.PathFd, name, keep | HostCalls.Create | HostCalls.NonBlock | HostCalls.NoCtty, mode & 0xfff));
        var st = new HostStat();
        int pathFd = HostCalls.Reopen(fd, HostCalls.Path);
        if (pathFd < 0 || HostCalls.Stat(pathFd, out st) < 0 || st.Type != HostCalls.TypeRegular)
        {
            HostCalls.Close(fd);
            HostCalls.Close(pathFd);
            throw new P9Error(P9Errno.EIO);
        }

        HostCalls.Close(fid.PathFd);
        fid.PathFd = pathFd;
        fid.Path = P9Fid.Join(fid.Path, name);
        fid.OpenFd = fd;
        fid.OpenFlags = keep & ~(HostCalls.Exclusive | HostCalls.Truncate);
        openFiles++;
        return new P9Writer(P9Type.Tlcreate + 1, tag).Qid(Qid(st)).U32(0).Finish();
    }

    /// <summary>Tread fid[4] offset[8] count[4]: Rread count[4] data, at most what fits in msize and the guest's buffers.</summary>
    private byte[] Read(ushort tag, ref P9Reader r, int capacity)
    {
        var fid = Get(r.U32());
        long offset = checked((long)r.U64());
        uint count = r.U32();
        if (!fid.IsOpen)
        {
            throw new P9Error(P9Errno.EBADF);
        }

        int n = (int)Math.Min(count, (uint)Math.Max(capacity - RreadHeader, 0));
        var w = new P9Writer(P9Type.Tread + 1, tag, RreadHeader + n);
        w.U32(0);
        var data = w.Reserve(n);
        long got = P9Error.Check(HostCalls.PRead(fid.OpenFd, data, offset));
        w.Shrink(RreadHeader + (int)got);
        var reply = w.Finish();
        BinaryPrimitives.WriteUInt32LittleEndian(reply.AsSpan(P9Type.HeaderSize), (uint)got);
        return reply;
    }

    /// <summary>Twrite fid[4] offset[8] count[4] data[count]: Rwrite count[4].</summary>
    private byte[] Write(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        long offset = checked((long)r.U64());
        var data = r.Bytes(r.U32());
        NotReadOnly();
        if (!fid.OpenForWrite)
        {
            throw new P9Error(P9Errno.EBADF);
        }

        long n = P9Error.Check(HostCalls.PWrite(fid.OpenFd, data, offset));
        return new P9Writer(P9Type.Twrite + 1, tag).U32((uint)n).Finish();
    }

    private byte[] Clunk(ushort tag, ref P9Reader r)
    {
        uint id = r.U32();
        if (!fids.ContainsKey(id))
        {
            Malformed++;
            throw new P9Error(P9Errno.EBADF);
        }

        RemoveFid(id);
        return Empty(P9Type.Tclunk, tag);
    }

    /// <summary>Tremove fid[4]: removes the file by its name in its parent, and clunks the fid whatever the outcome (9P).</summary>
    private byte[] Remove(ushort tag, ref P9Reader r)
    {
        uint id = r.U32();
        try
        {
            var fid = Get(id);
            NotReadOnly();
            if (fid.Path.Length == 0)
            {
                throw new P9Error(P9Errno.EBUSY);
            }

            bool directory = Stat(fid.PathFd).Type == HostCalls.TypeDirectory;
            int parent = P9Error.Check(OpenPath(P9Fid.Parent(fid.Path)));
            int result = HostCalls.UnlinkAt(parent, P9Fid.Name(fid.Path), directory ? HostCalls.AtRemoveDir : 0);
            HostCalls.Close(parent);
            P9Error.Check(result);
            return Empty(P9Type.Tremove, tag);
        }
        finally
        {
            RemoveFid(id);
        }
    }

    /// <summary>
    /// Treaddir fid[4] offset[8] count[4]: Rreaddir count[4] then entries qid[13] offset[8]
    /// type[1] name[s], the offsets being the host directory's own cookies (d_off).
    /// </summary>
    private byte[] ReadDir(ushort tag, ref P9Reader r, int capacity)
    {
        var fid = Get(r.U32());
        long offset = checked((long)r.U64());
        uint count = r.U32();
        if (!fid.IsOpen)
        {
            throw new P9Error(P9Errno.EBADF);
        }

        int room = (int)Math.Min(count, (uint)Math.Max(capacity - RreadHeader, 0));
        var w = new P9Writer(P9Type.Treaddir + 1, tag, RreadHeader + room);
        w.U32(0);
        int used = 0;
        var buffer = new byte[Math.Clamp(room, 512, 64 * 1024)];
        bool full = false;
        while (!full)
        {
            long got = P9Error.Check(HostCalls.ReadDirectory(fid.OpenFd, offset, buffer));
            if (got == 0)
            {
                break;
            }

            for (int at = 0; at < got;)
            {
                var entry = buffer.AsSpan(at);
                ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(entry);
                long next = BinaryPrimitives.ReadInt64LittleEndian(entry[8..]);
                int length = BinaryPrimitives.ReadUInt16LittleEndian(entry[16..]);
                byte type = entry[18];
                var name = entry[19..length];
                name = name[..Math.Max(name.IndexOf((byte)0), 0)];
                int size = 13 + 8 + 1 + 2 + name.Length;
                if (length == 0 || used + size > room)
                {
                    full = true;
                    break;
                }

                byte qidType = type switch { 4 => P9Type.QidDirectory, 10 => P9Type.QidSymlink, _ => P9Type.QidFile };
                w.Qid(new P9Qid(qidType, 0, inode)).U64((ulong)next).U8(type).StrBytes(name);
                used += size;
                offset = next;
                at += length;
            }
        }

        var reply = w.Finish();
        BinaryPrimitives.WriteUInt32LittleEndian(reply.AsSpan(P9Type.HeaderSize), (uint)used);
        return reply;
    }

    /// <summary>Tmkdir dfid[4] name[s] mode[4] gid[4]: Rmkdir qid[13].</summary>
    private byte[] MakeDirectory(ushort tag, ref P9Reader r)
    {
        var dir = Get(r.U32());
        string name = r.Str();
        uint mode = r.U32();
        r.U32();
        NotReadOnly();
        P9Error.Check(HostCalls.MkdirAt(dir.PathFd, CheckName(name), mode & 0xfff));
        return new P9Writer(P9Type.Tmkdir + 1, tag).Qid(QidOf(dir.PathFd, name)).Finish();
    }

    /// <summary>The qid of <paramref name="name"/> in a directory, not following a link.</summary>
    private static P9Qid QidOf(int dirFd, string name)
    {
        int fd = P9Error.Check(HostCalls.OpenAt(dirFd, name, HostCalls.Path));
        try
        {
            return Qid(Stat(fd));
        }
        finally
        {
            HostCalls.Close(fd);
        }
    }

    /// <summary>Tunlinkat dirfid[4] name[s] flags[4] (AT_REMOVEDIR for a directory).</summary>
    private byte[] UnlinkAt(ushort tag, ref P9Reader r)
    {
        var dir = Get(r.U32());
        string name = r.Str();
        uint flags = r.U32();
        NotReadOnly();
        P9Error.Check(HostCalls.UnlinkAt(dir.PathFd, CheckName(name), (int)flags & HostCalls.AtRemoveDir));
        return Empty(P9Type.Tunlinkat, tag);
    }

    /// <summary>Trenameat olddirfid[4] oldname[s] newdirfid[4] newname[s]: both names in directories of the share.</summary>
    private byte[] RenameAt(ushort tag, ref P9Reader r)
    {
        var oldDir = Get(r.U32());
        string oldName = r.Str();
        var newDir = Get(r.U32());
        string newName = r.Str();
        NotReadOnly();
        P9Error.Check(HostCalls.RenameAt(oldDir.PathFd, CheckName(oldName), newDir.PathFd, CheckName(newName)));
        Renamed(P9Fid.Join(oldDir.Path, oldName), P9Fid.Join(newDir.Path, newName));
        return Empty(P9Type.Trenameat, tag);
    }

    /// <summary>Trename fid[4] dfid[4] name[s]: fid's file moves to name in dfid.</summary>
    private byte[] Rename(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        var newDir = Get(r.U32());
        string newName = r.Str();
        NotReadOnly();
        CheckName(newName);
        if (fid.Path.Length == 0)
        {
            throw new P9Error(P9Errno.EBUSY);
        }

        int parent = P9Error.Check(OpenPath(P9Fid.Parent(fid.Path)));
        int result = HostCalls.RenameAt(parent, P9Fid.Name(fid.Path), newDir.PathFd, newName);
        HostCalls.Close(parent);
        P9Error.Check(result);
        Renamed(fid.Path, P9Fid.Join(newDir.Path, newName));
        return Empty(P9Type.Trename, tag);
    }

    /// <summary>Tstatfs fid[4]: Rstatfs type[4] bsize[4] blocks[8] bfree[8] bavail[8] files[8] ffree[8] fsid[8] namelen[4].</summary>
    private byte[] StatFs(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        P9Error.Check(HostCalls.StatFs(fid.PathFd, out var fs));
        return new P9Writer(P9Type.Tstatfs + 1, tag)
            .U32(fs.Type).U32(fs.BlockSize).U64(fs.Blocks).U64(fs.Free).U64(fs.Available).U64(fs.Files).U64(fs.FreeFiles).U64(fs.FsId).U32(fs.NameLength)
            .Finish();
    }

    /// <summary>Tfsync fid[4] [datasync[4]]: fsync of the open file (nothing to do for a fid not open).</summary>
    private byte[] Fsync(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        if (fid.IsOpen)
        {
            P9Error.Check(HostCalls.Fsync(fid.OpenFd));
        }

        return Empty(P9Type.Tfsync, tag);
    }

    /// <summary>Treadlink fid[4]: Rreadlink target[s], the link's text as it is; the host never follows it.</summary>
    private byte[] ReadLink(ushort tag, ref P9Reader r)
    {
        var fid = Get(r.U32());
        if (Stat(fid.PathFd).Type != HostCalls.TypeSymlink)
        {
            throw new P9Error(P9Errno.EINVAL);
        }

        P9Error.Check(HostCalls.ReadLink(fid.PathFd, out var target));
        return new P9Writer(P9Type.Treadlink + 1, tag).StrBytes(target).Finish();
    }

    /// <summary>Tsymlink fid[4] name[s] symtgt[s] gid[4]: Rsymlink qid[13]. The target may be anything: it is text the guest resolves.</summary>
    private byte[] Symlink(ushort tag, ref P9Reader r)
    {
        var dir = Get(r.U32());
        string name = r.Str();
        string target = r.Str();
        r.U32();
        NotReadOnly();
        if (target.Length == 0 || target.Contains('\0', StringComparison.Ordinal))
        {
            throw new P9Error(P9Errno.EINVAL);
        }

        P9Error.Check(HostCalls.SymlinkAt(target, dir.PathFd, CheckName(name)));
        return new P9Writer(P9Type.Tsymlink + 1, tag).Qid(QidOf(dir.PathFd, name)).Finish();
    }

    /// <summary>Tlink dfid[4] fid[4] name[s]: a new name in dfid for fid's file (both in the share).</summary>
    private byte[] Link(ushort tag, ref P9Reader r)
    {
        var dir = Get(r.U32());
        var fid = Get(r.U32());
        string name = r.Str();
        NotReadOnly();
        if (Stat(fid.PathFd).Type is not HostCalls.TypeRegular)
        {
            throw new P9Error(P9Errno.EPERM); // directories cannot be linked; links and special files are not followed through /proc
        }

        P9Error.Check(HostCalls.LinkAt(fid.PathFd, dir.PathFd, CheckName(name)));
        return Empty(P9Type.Tlink, tag);
    }

    /// <summary>Tlock fid[4] type[1] flags[4] start[8] length[8] proc_id[4] client_id[s]: granted (locks are the guest's own business: one client per share).</summary>
    private byte[] Lock(ushort tag, ref P9Reader r)
    {
        Get(r.U32());
        r.U8();
        r.U32();
        r.U64();
        r.U64();
        r.U32();
        r.Str();
        return new P9Writer(P9Type.Tlock + 1, tag).U8(0).Finish(); // P9_LOCK_SUCCESS
    }

    /// <summary>Tgetlock fid[4] type[1] start[8] length[8] proc_id[4] client_id[s]: no other holder (F_UNLCK).</summary>
    private byte[] GetLock(ushort tag, ref P9Reader r)
    {
        Get(r.U32());
        r.U8();
        ulong start = r.U64(), length = r.U64();
        uint proc = r.U32();
        string client = r.Str();
        return new P9Writer(P9Type.Tgetlock + 1, tag).U8(2).U64(start).U64(length).U32(proc).Str(client).Finish();
    }

    /// <summary>Tflush oldtag[2]: requests are handled one at a time, so the old one has already been answered.</summary>
    private static byte[] Flush(ushort tag, ref P9Reader r)
    {
        r.U16();
        return Empty(P9Type.Tflush, tag);
    }
}

using System.Buffers.Binary;
using System.Text;
using Emulator.Devices.Virtio9p;
using Emulator.Machine.SharedFolders;
using Xunit;

namespace Emulator.Machine.Tests.SharedFolders;

/// <summary>A 9P2000.L client at the message level: builds T-messages as the Linux client lays them out and reads the replies.</summary>
internal sealed class P9TestClient(P9Server server)
{
    private ushort nextTag = 1;

    public P9Server Server => server;

    /// <summary>Sends a raw message and returns (type, tag, body after the header).</summary>
    public (byte Type, ushort Tag, byte[] Body) Raw(byte[] message, int capacity = 1 << 20)
    {
        var reply = server.Handle(message, capacity);
        Assert.True(reply.Length >= P9Type.HeaderSize, "a reply has a header");
        Assert.Equal((uint)reply.Length, BinaryPrimitives.ReadUInt32LittleEndian(reply));
        return (reply[4], BinaryPrimitives.ReadUInt16LittleEndian(reply.AsSpan(5)), reply[P9Type.HeaderSize..]);
    }

    /// <summary>Sends a T-message built by <paramref name="fields"/>; returns the reply body, or the errno of an Rlerror as a negative number in <paramref name="errno"/>.</summary>
    public byte[] Send(byte type, Action<P9Writer> fields, out uint errno, int capacity = 1 << 20)
    {
        ushort tag = nextTag++;
        var w = new P9Writer(type, tag);
        fields(w);
        var (rtype, rtag, body) = Raw(w.Finish(), capacity);
        Assert.Equal(tag, rtag);
        if (rtype == P9Type.Rlerror)
        {
            errno = BinaryPrimitives.ReadUInt32LittleEndian(body);
            return [];
        }

        Assert.Equal(type + 1, rtype);
        errno = 0;
        return body;
    }

    /// <summary>As <see cref="Send(byte, Action{P9Writer}, out uint, int)"/>, expecting success.</summary>
    public byte[] Ok(byte type, Action<P9Writer> fields, int capacity = 1 << 20)
    {
        var body = Send(type, fields, out uint errno, capacity);
        Assert.True(errno == 0, $"message {type} failed with errno {errno}");
        return body;
    }

    /// <summary>Expects an Rlerror with <paramref name="expected"/>.</summary>
    public void Fails(uint expected, byte type, Action<P9Writer> fields)
    {
        Send(type, fields, out uint errno);
        Assert.Equal(expected, errno);
    }

    public uint Version(uint msize = 65536, string version = P9Type.Version)
    {
        var body = Ok(P9Type.Tversion, w => w.U32(msize).Str(version));
        Assert.Equal(version == P9Type.Version ? P9Type.Version : "unknown", ReadStr(body, 4));
        return BinaryPrimitives.ReadUInt32LittleEndian(body);
    }

    public P9Qid Attach(uint fid) => ReadQid(Ok(P9Type.Tattach, w => w.U32(fid).U32(P9Type.NoFid).Str("root").Str("").U32(0)), 0);

    public List<P9Qid> Walk(uint fid, uint newFid, params string[] names)
    {
        var body = Send(P9Type.Twalk, w =>
        {
            w.U32(fid).U32(newFid).U16((ushort)names.Length);
            foreach (var n in names)
            {
                w.Str(n);
            }
        }, out uint errno);
        Assert.True(errno == 0, $"walk {string.Join('/', names)} failed with errno {errno}");
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        return [.. Enumerable.Range(0, count).Select(i => ReadQid(body, 2 + 13 * i))];
    }

    public uint WalkError(uint fid, uint newFid, params string[] names)
    {
        Send(P9Type.Twalk, w =>
        {
            w.U32(fid).U32(newFid).U16((ushort)names.Length);
            foreach (var n in names)
            {
                w.Str(n);
            }
        }, out uint errno);
        return errno;
    }

    /// <summary>The errno of a walk that gets past its first name and stops later (Rwalk with fewer qids is not an error in 9P; this reports ENOTDIR for it, the client's view).</summary>
    public uint WalkErrorAfter(uint fid, uint newFid, params string[] names)
    {
        var body = Send(P9Type.Twalk, w =>
        {
            w.U32(fid).U32(newFid).U16((ushort)names.Length);
            foreach (var n in names)
            {
                w.Str(n);
            }
        }, out uint errno);
        if (errno != 0)
        {
            return errno;
        }

        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        Assert.True(count < names.Length, $"walk {string.Join('/', names)} went through");
        return P9Errno.ENOTDIR;
    }

    public void Open(uint fid, uint flags) => Ok(P9Type.Tlopen, w => w.U32(fid).U32(flags));

    public void Create(uint fid, string name, uint flags = 0x42, uint mode = 0x1a4) => Ok(P9Type.Tlcreate, w => w.U32(fid).Str(name).U32(flags).U32(mode).U32(0));

    public byte[] Read(uint fid, ulong offset, uint count)
    {
        var body = Ok(P9Type.Tread, w => w.U32(fid).U64(offset).U32(count));
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(body);
        Assert.Equal(body.Length - 4, (int)n);
        return body[4..];
    }

    public uint Write(uint fid, ulong offset, byte[] data) =>
        BinaryPrimitives.ReadUInt32LittleEndian(Ok(P9Type.Twrite, w => w.U32(fid).U64(offset).U32((uint)data.Length).Bytes(data)));

    public void Clunk(uint fid) => Ok(P9Type.Tclunk, w => w.U32(fid));

    /// <summary>Every name in the open directory fid, reading in pieces of <paramref name="count"/> bytes.</summary>
    public List<string> ReadDir(uint fid, uint count = 8192)
    {
        var names = new List<string>();
        ulong offset = 0;
        while (true)
        {
            var body = Ok(P9Type.Treaddir, w => w.U32(fid).U64(offset).U32(count));
            uint n = BinaryPrimitives.ReadUInt32LittleEndian(body);
            if (n == 0)
            {
                return names;
            }

            for (int at = 4; at < 4 + n;)
            {
                offset = BinaryPrimitives.ReadUInt64LittleEndian(body.AsSpan(at + 13));
                string name = ReadStr(body, at + 22);
                names.Add(name);
                at += 24 + Encoding.UTF8.GetByteCount(name);
            }
        }
    }

    public static P9Qid ReadQid(byte[] body, int at) =>
        new(body[at], BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(at + 1)), BinaryPrimitives.ReadUInt64LittleEndian(body.AsSpan(at + 5)));

    public static string ReadStr(byte[] body, int at) =>
        Encoding.UTF8.GetString(body, at + 2, BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(at)));
}

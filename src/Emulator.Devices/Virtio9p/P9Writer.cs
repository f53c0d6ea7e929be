using System.Buffers.Binary;
using System.Text;

namespace Emulator.Devices.Virtio9p;

/// <summary>A 9P reply (or, in tests, request) being written: header first, then fields; <see cref="Finish"/> sets the size.</summary>
public sealed class P9Writer
{
    private byte[] buffer;
    private int length;

    public P9Writer(byte type, ushort tag, int capacity = 64)
    {
        buffer = new byte[Math.Max(capacity, P9Type.HeaderSize)];
        length = 4;
        U8(type);
        U16(tag);
    }

    public int Length => length;

    public P9Writer U8(byte v)
    {
        Grow(1)[0] = v;
        return this;
    }

    public P9Writer U16(ushort v)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Grow(2), v);
        return this;
    }

    public P9Writer U32(uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(Grow(4), v);
        return this;
    }

    public P9Writer U64(ulong v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(Grow(8), v);
        return this;
    }

    public P9Writer Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));

    /// <summary>A string already in bytes (a host file name as the directory holds it).</summary>
    public P9Writer StrBytes(ReadOnlySpan<byte> s)
    {
        U16(checked((ushort)s.Length));
        s.CopyTo(Grow(s.Length));
        return this;
    }

    public P9Writer Bytes(ReadOnlySpan<byte> data)
    {
        data.CopyTo(Grow(data.Length));
        return this;
    }

    /// <summary>qid[13]: type[1] version[4] path[8].</summary>
    public P9Writer Qid(P9Qid qid) => U8(qid.Type).U32(qid.Version).U64(qid.Path);

    /// <summary>Reserves <paramref name="count"/> bytes to be filled in place (Rread's data); returns where they start.</summary>
    public Span<byte> Reserve(int count) => Grow(count);

    /// <summary>Drops bytes reserved but not used.</summary>
    public void Shrink(int newLength) => length = Math.Min(length, Math.Max(newLength, P9Type.HeaderSize));

    /// <summary>Writes the size field and returns the message.</summary>
    public byte[] Finish()
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)length);
        return buffer.AsSpan(0, length).ToArray();
    }

    private Span<byte> Grow(int count)
    {
        if (length + count > buffer.Length)
        {
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + count));
        }

        var span = buffer.AsSpan(length, count);
        length += count;
        return span;
    }
}

/// <summary>A qid: the server's identity of a file (type bits, version, a path unique in the share: the inode number).</summary>
public readonly record struct P9Qid(byte Type, uint Version, ulong Path);

using System.Buffers.Binary;

namespace Emulator.Machine.Tests;

/// <summary>Synthetic kernels built field by field from the boot protocol and the ELF-64 format.</summary>
public static class TestImages
{
    public sealed record BzOptions
    {
        public ushort Version { get; init; } = 0x020f;
        public ushort XLoadFlags { get; init; } = 0x3; // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
        public byte SetupSectsField { get; init; } = 4;
        public int SetupSects { get; init; } = 4;
        public uint InitSize { get; init; } = 0x40_0000;
        public ulong PrefAddress { get; init; } = 0x100_0000;
        public uint KernelAlignment { get; init; } = 0x20_0000;
        public uint CmdlineSize { get; init; } = 2047;
        public uint InitrdAddrMax { get; init; } = 0x7fff_ffff;
    }

    /// <summary>
    /// A bzImage: (setup_sects + 1) sectors of real-mode setup with the header at 0x1F1, then a
    /// protected-mode kernel of 0x200 filler bytes (where startup_32 would be) and <paramref name="code64"/>.
    /// </summary>
    public static byte[] BzImage(byte[] code64, BzOptions? o = null)
    {
        o ??= new BzOptions();
        int setupBytes = (o.SetupSects + 1) * 512;
        int payloadLength = (0x200 + code64.Length + 15) & ~15;
        var file = new byte[setupBytes + payloadLength];
        Span<byte> f = file;
        f[0x1f1] = o.SetupSectsField;
        BinaryPrimitives.WriteUInt32LittleEndian(f[0x1f4..], (uint)(payloadLength / 16));
        BinaryPrimitives.WriteUInt16LittleEndian(f[0x1fe..], 0xaa55);
        f[0x200] = 0xeb;
        f[0x201] = 0x6a; // header ends at 0x202 + 0x6a = 0x26c
        f[0x202] = (byte)'H';
        f[0x203] = (byte)'d';
        f[0x204] = (byte)'r';
        f[0x205] = (byte)'S';
        BinaryPrimitives.WriteUInt16LittleEndian(f[0x206..], o.Version);
        f[0x211] = 0x01; // LOADED_HIGH
        BinaryPrimitives.WriteUInt32LittleEndian(f[0x214..], 0x10_0000);
        BinaryPrimitives.WriteUInt32LittleEndian(f[0x22c..], o.InitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(f[0x230..], o.KernelAlignment);
        f[0x234] = 1; // relocatable
        BinaryPrimitives.WriteUInt16LittleEndian(f[0x236..], o.XLoadFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(f[0x238..], o.CmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(f[0x258..], o.PrefAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(f[0x260..], o.InitSize);
        f.Slice(setupBytes, 0x200).Fill(0x90);
        code64.CopyTo(f[(setupBytes + 0x200)..]);
        return file;
    }

    public sealed record ElfSegment(ulong VAddr, ulong PAddr, byte[] Data, ulong MemSize);

    /// <summary>An ELF64 x86-64 executable: header, program headers right after it, then the segments' bytes.</summary>
    public static byte[] Elf(ulong entry, IReadOnlyList<ElfSegment> segments, byte elfClass = 2, ushort machine = 62)
    {
        int phoff = 64;
        int dataStart = phoff + 56 * segments.Count;
        int total = dataStart + segments.Sum(s => s.Data.Length);
        var file = new byte[total];
        Span<byte> f = file;
        f[0] = 0x7f;
        f[1] = (byte)'E';
        f[2] = (byte)'L';
        f[3] = (byte)'F';
        f[4] = elfClass;
        f[5] = 1; // little-endian
        f[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(f[16..], 2); // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(f[18..], machine);
        BinaryPrimitives.WriteUInt32LittleEndian(f[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(f[24..], entry);
        BinaryPrimitives.WriteUInt64LittleEndian(f[32..], (ulong)phoff);
        BinaryPrimitives.WriteUInt16LittleEndian(f[52..], 64);
        BinaryPrimitives.WriteUInt16LittleEndian(f[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(f[56..], (ushort)segments.Count);
        int at = dataStart;
        for (int i = 0; i < segments.Count; i++)
        {
            var s = segments[i];
            var ph = f[(phoff + 56 * i)..];
            BinaryPrimitives.WriteUInt32LittleEndian(ph, 1); // PT_LOAD
            BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 7);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], (ulong)at);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], s.VAddr);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], s.PAddr);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)s.Data.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], s.MemSize);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 0x1000);
            s.Data.CopyTo(f[at..]);
            at += s.Data.Length;
        }

        return file;
    }

    public static ulong Read(ReadOnlySpan<byte> bytes, int offset, int size) => size switch
    {
        1 => bytes[offset],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(bytes[offset..]),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(bytes[offset..]),
    };

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
}

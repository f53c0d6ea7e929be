using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Emulator.Machine.Block;

/// <summary>What a backing file looked like when an overlay was made over it; a backing file that no longer matches was written since, and the overlay's view of it is stale.</summary>
internal readonly record struct BackingIdentity(long Size, long LastWriteTicksUtc)
{
    public static BackingIdentity Of(string path)
    {
        var info = new FileInfo(path);
        return new BackingIdentity(info.Length, info.LastWriteTimeUtc.Ticks);
    }
}

/// <summary>
/// The header of a copy-on-write overlay file (format version 2; layout in RATIONALE.md), all
/// fields little-endian, in the first <see cref="Size"/> bytes of the file:
/// <code>
///    0  magic "EMUCOW\r\n"          8 bytes
///    8  format version              u32 (2)
///   12  header size                 u32 (4096)
///   16  cluster size                u32 (65536)
///   20  backing path length         u32 (UTF-8 bytes)
///   24  virtual disk size           u64
///   32  bitmap offset               u64 (4096)
///   40  bitmap length               u64 (bytes, a multiple of 4096)
///   48  data start                  u64 (cluster-aligned; a cluster's data is at data start + its virtual offset)
///   56  backing file size           i64
///   64  backing last write, UTC     i64 (.NET ticks)
///   72  backing format              u32 (0 raw, 1 emucow; version 2)
///   76  backing path                UTF-8, absolute (at 72 in version 1)
/// 4092  CRC-32C of bytes 0..4091    u32
/// </code>
/// Version 1 had no backing format; it is read as "an overlay if the backing path ends in .cow",
/// which is how version 1 named every overlay it made.
/// </summary>
internal sealed record CowHeader(ulong VirtualSize, string BackingPath, BlockFormat BackingFormat, BackingIdentity Backing)
{
    public const int Size = 4096;
    public const uint FormatVersion = 2;
    public const int ClusterBits = 16;
    public const int ClusterSize = 1 << ClusterBits;
    public const string Extension = ".cow";
    private const int BackingFormatOffset = 72;
    private const int ChecksumOffset = Size - 4;

    /// <summary>Where the backing path starts in a header of <paramref name="version"/>.</summary>
    private static int PathOffset(uint version) => version == 1 ? 72 : 76;

    private static int MaxPathBytes(uint version) => ChecksumOffset - PathOffset(version);

    public static ReadOnlySpan<byte> Magic => "EMUCOW\r\n"u8;

    public long Clusters => (long)((VirtualSize + ClusterSize - 1) >> ClusterBits);

    /// <summary>1 bit per cluster, in whole 64-bit words, padded to 4 KiB pages (the unit the bitmap is rewritten in).</summary>
    public long BitmapLength => RoundUp((Clusters + 63) / 64 * 8, Size);

    public long BitmapOffset => Size;

    /// <summary>Cluster-aligned, so each cluster's data is one aligned run of host blocks (sparse where never written).</summary>
    public long DataStart => RoundUp(BitmapOffset + BitmapLength, ClusterSize);

    public static bool HasMagic(ReadOnlySpan<byte> start) => start.StartsWith(Magic);

    public void Encode(Span<byte> h)
    {
        byte[] path = Encoding.UTF8.GetBytes(BackingPath);
        if (path.Length > MaxPathBytes(FormatVersion))
        {
            throw new BlockImageException(BackingPath, $"backing path too long for an overlay header ({path.Length} bytes, at most {MaxPathBytes(FormatVersion)})");
        }

        h[..Size].Clear();
        Magic.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], ClusterSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], (uint)path.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], VirtualSize);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (ulong)BitmapOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], (ulong)BitmapLength);
        BinaryPrimitives.WriteUInt64LittleEndian(h[48..], (ulong)DataStart);
        BinaryPrimitives.WriteInt64LittleEndian(h[56..], Backing.Size);
        BinaryPrimitives.WriteInt64LittleEndian(h[64..], Backing.LastWriteTicksUtc);
        BinaryPrimitives.WriteUInt32LittleEndian(h[BackingFormatOffset..], (uint)BackingFormat);
        path.CopyTo(h[PathOffset(FormatVersion)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[ChecksumOffset..], Checksum(h[..ChecksumOffset]));
    }

    /// <summary>Checks and decodes a header; <paramref name="got"/> is how many bytes the file had for it. Throws <see cref="BlockImageException"/> naming <paramref name="file"/> with the reason.</summary>
    public static CowHeader Decode(string file, ReadOnlySpan<byte> h, int got)
    {
        if (got < Magic.Length || !HasMagic(h))
        {
            throw new BlockImageException(file, "not a copy-on-write overlay (bad magic)");
        }

        if (got < 12)
        {
            throw new BlockImageException(file, $"truncated overlay header ({got} bytes, expected {Size})");
        }

        // The version comes before the checksum: a newer format may lay out (and check) its header differently.
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (version is < 1 or > FormatVersion)
        {
            throw new BlockImageException(file, $"overlay format version {version} is not supported (this emulator reads versions 1 to {FormatVersion})");
        }

        if (got < Size)
        {
            throw new BlockImageException(file, $"truncated overlay header ({got} bytes, expected {Size})");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(h[ChecksumOffset..]) != Checksum(h[..ChecksumOffset]))
        {
            throw new BlockImageException(file, "overlay header checksum mismatch (the header is corrupted)");
        }

        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(h[12..]);
        uint clusterSize = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]);
        uint pathLength = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
        if (headerSize != Size || clusterSize != ClusterSize || pathLength == 0 || pathLength > MaxPathBytes(version))
        {
            throw new BlockImageException(file, $"overlay header has unsupported geometry (header {headerSize}, cluster {clusterSize}, backing path {pathLength} bytes)");
        }

        string backingPath = Encoding.UTF8.GetString(h.Slice(PathOffset(version), (int)pathLength));
        BlockFormat backingFormat;
        if (version == 1)
        {
            backingFormat = backingPath.EndsWith(Extension, StringComparison.OrdinalIgnoreCase) ? BlockFormat.EmuCow : BlockFormat.Raw;
        }
        else
        {
            uint code = BinaryPrimitives.ReadUInt32LittleEndian(h[BackingFormatOffset..]);
            if (code > (uint)BlockFormat.EmuCow)
            {
                throw new BlockImageException(file, $"overlay header names an unknown backing format ({code})");
            }

            backingFormat = (BlockFormat)code;
        }

        var header = new CowHeader(
            BinaryPrimitives.ReadUInt64LittleEndian(h[24..]),
            backingPath,
            backingFormat,
            new BackingIdentity(BinaryPrimitives.ReadInt64LittleEndian(h[56..]), BinaryPrimitives.ReadInt64LittleEndian(h[64..])));
        if (BinaryPrimitives.ReadUInt64LittleEndian(h[32..]) != (ulong)header.BitmapOffset
            || BinaryPrimitives.ReadUInt64LittleEndian(h[40..]) != (ulong)header.BitmapLength
            || BinaryPrimitives.ReadUInt64LittleEndian(h[48..]) != (ulong)header.DataStart
            || !System.IO.Path.IsPathFullyQualified(header.BackingPath))
        {
            throw new BlockImageException(file, "overlay header is inconsistent (bitmap or data position, or a relative backing path)");
        }

        return header;
    }

    /// <summary>CRC-32C (Castagnoli), as the hardware instruction computes it.</summary>
    /// <summary>Recomputes the checksum of an edited header (for tools that make damaged headers on purpose: the fuzzer).</summary>
    public static void Reseal(Span<byte> h) => BinaryPrimitives.WriteUInt32LittleEndian(h[ChecksumOffset..], Checksum(h[..ChecksumOffset]));

    private static uint Checksum(ReadOnlySpan<byte> bytes)
    {
        uint crc = ~0u;
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..]));
        }

        for (; i < bytes.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, bytes[i]);
        }

        return ~crc;
    }

    private static long RoundUp(long value, long unit) => (value + unit - 1) / unit * unit;
}

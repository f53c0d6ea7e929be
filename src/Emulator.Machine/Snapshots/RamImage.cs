using System.Buffers.Binary;
using System.IO.Compression;
using Emulator.X86.Memory;

namespace Emulator.Machine.Snapshots;

/// <summary>
/// Guest RAM in a snapshot (section "ram", version 1): chunks of 256 pages (1 MiB); each chunk is a
/// 32-byte bitmap of its non-zero 4 KiB pages, the compressed length (u32) and the non-zero pages,
/// in order, compressed with raw Deflate. Zero pages cost one bit. Chunks are compressed and
/// decompressed in parallel on all cores.
/// <code>
/// ram size u64 | page size u32 (4096) | pages per chunk u32 (256) | chunk ...
/// chunk: bitmap (32 bytes) | compressed length u32 | compressed bytes
/// </code>
/// </summary>
public static class RamImage
{
    public const int Version = 1;
    public const int PagesPerChunk = 256;
    private const int PageSize = (int)GuestMemory.PageSize;
    private const int BitmapBytes = PagesPerChunk / 8;
    private const int ChunkBytes = PagesPerChunk * PageSize;

    /// <summary>What encoding found: pages with data, and the encoded size.</summary>
    public readonly record struct Figures(long NonZeroPages, long TotalPages, long EncodedBytes);

    /// <summary>Encodes RAM (which must not change meanwhile: the machine is paused) as the section payload.</summary>
    public static (List<byte[]> Chunks, Figures Figures) Encode(GuestMemory memory)
    {
        int chunks = (int)((memory.Size + ChunkBytes - 1) / ChunkBytes);
        var encoded = new byte[chunks][];
        long nonZero = 0;
        Parallel.For(0, chunks, () => new byte[ChunkBytes], (i, _, scratch) =>
        {
            encoded[i] = EncodeChunk(memory, i, scratch, out int pages);
            Interlocked.Add(ref nonZero, pages);
            return scratch;
        }, _ => { });

        var header = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(header, memory.Size);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), PageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), PagesPerChunk);
        var all = new List<byte[]>(chunks + 1) { header };
        all.AddRange(encoded);
        long size = all.Sum(c => (long)c.Length);
        return (all, new Figures(nonZero, (long)(memory.Size / (ulong)PageSize), size));
    }

    /// <summary>The section of RAM whose pages are all zero (what a migration's snapshot holds: the pages travel beside it).</summary>
    public static (List<byte[]> Chunks, Figures Figures) EncodeZero(ulong ramSize)
    {
        int chunks = (int)((ramSize + ChunkBytes - 1) / ChunkBytes);
        var header = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(header, ramSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), PageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), PagesPerChunk);
        var all = new List<byte[]>(chunks + 1) { header };
        var empty = new byte[BitmapBytes + 4]; // no page marked, no compressed bytes
        all.AddRange(Enumerable.Repeat(empty, chunks));
        return (all, new Figures(0, (long)(ramSize / (ulong)PageSize), 16 + ((long)chunks * empty.Length)));
    }

    /// <summary>Fills freshly allocated (all-zero) guest RAM from a "ram" section.</summary>
    public static void Decode(Stream payload, GuestMemory memory, Func<string, Exception> corrupted)
    {
        try
        {
            DecodeAll(payload, memory, corrupted);
        }
        catch (EndOfStreamException)
        {
            throw corrupted("RAM section: cut off before its last chunk");
        }
    }

    private static void DecodeAll(Stream payload, GuestMemory memory, Func<string, Exception> corrupted)
    {
        Span<byte> header = stackalloc byte[16];
        payload.ReadExactly(header);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(header);
        if (size != memory.Size || BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != PageSize
            || BinaryPrimitives.ReadUInt32LittleEndian(header[12..]) != PagesPerChunk)
        {
            throw corrupted($"RAM section: {size >> 20} MiB in {BinaryPrimitives.ReadUInt32LittleEndian(header[8..])}-byte pages does not match a {memory.Size >> 20} MiB machine");
        }

        int chunks = (int)((memory.Size + ChunkBytes - 1) / ChunkBytes);
        var bitmaps = new byte[chunks][];
        var data = new byte[chunks][];
        Span<byte> length = stackalloc byte[4];
        for (int i = 0; i < chunks; i++)
        {
            bitmaps[i] = new byte[BitmapBytes];
            payload.ReadExactly(bitmaps[i]);
            payload.ReadExactly(length);
            uint n = BinaryPrimitives.ReadUInt32LittleEndian(length);
            if (n > ChunkBytes * 2)
            {
                throw corrupted($"RAM section: chunk {i} claims {n} compressed bytes");
            }

            data[i] = new byte[n];
            payload.ReadExactly(data[i]);
        }

        string? error = null;
        Parallel.For(0, chunks, i =>
        {
            if (DecodeChunk(memory, i, bitmaps[i], data[i]) is { } e)
            {
                error ??= e;
            }
        });
        if (error is not null)
        {
            throw corrupted(error);
        }
    }

    private static byte[] EncodeChunk(GuestMemory memory, int chunk, byte[] scratch, out int pages)
    {
        ulong start = (ulong)chunk * ChunkBytes;
        int count = (int)Math.Min(PagesPerChunk, (memory.Size - start) / (ulong)PageSize);
        var bitmap = new byte[BitmapBytes];
        pages = 0;
        for (int p = 0; p < count; p++)
        {
            var page = memory.Span(start + (ulong)(p * PageSize), PageSize);
            if (page.ContainsAnyExcept((byte)0))
            {
                bitmap[p >> 3] |= (byte)(1 << (p & 7));
                page.CopyTo(scratch.AsSpan(pages * PageSize));
                pages++;
            }
        }

        using var output = new MemoryStream(BitmapBytes + 4 + (pages * PageSize / 3));
        output.Write(bitmap);
        output.Write(stackalloc byte[4]);
        if (pages > 0)
        {
            using var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true);
            deflate.Write(scratch, 0, pages * PageSize);
        }

        var bytes = output.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(BitmapBytes), (uint)(bytes.Length - BitmapBytes - 4));
        return bytes;
    }

    private static string? DecodeChunk(GuestMemory memory, int chunk, byte[] bitmap, byte[] data)
    {
        ulong start = (ulong)chunk * ChunkBytes;
        int count = (int)Math.Min(PagesPerChunk, (memory.Size - start) / (ulong)PageSize);
        using var inflate = new DeflateStream(new MemoryStream(data), CompressionMode.Decompress);
        try
        {
            for (int p = 0; p < PagesPerChunk; p++)
            {
                if ((bitmap[p >> 3] & (1 << (p & 7))) == 0)
                {
                    continue;
                }

                if (p >= count)
                {
                    return $"RAM section: chunk {chunk} marks page {p} beyond the end of RAM";
                }

                inflate.ReadExactly(memory.Span(start + (ulong)(p * PageSize), PageSize));
            }

            return inflate.Read(stackalloc byte[1]) == 0 ? null : $"RAM section: chunk {chunk} has data beyond its pages";
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            return $"RAM section: chunk {chunk} does not decompress ({e.Message})";
        }
    }
}

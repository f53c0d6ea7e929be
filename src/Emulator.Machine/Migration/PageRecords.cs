using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Runtime.InteropServices;
using Emulator.Machine.Snapshots;
using Emulator.X86.Memory;

namespace Emulator.Machine.Migration;

/// <summary>
/// The page records of a migration stream (RATIONALE.md, "Wire format"): up to 256 pages a
/// record, each a page number, a kind (zero or data) and a data page's 4096 bytes. A record is
/// sent as 'P' (the body as it is) or, in a version 2 stream, as 'Z' (the same body compressed
/// with zlib, RFC 1950: deflate and an Adler-32 of the body, with the body's length beside it so a
/// cut stream is seen too), whichever is shorter.
/// </summary>
internal static class PageRecords
{
    public const int PageSize = (int)GuestMemory.PageSize;
    public const int PagesPerRecord = 256;
    public const byte Plain = (byte)'P', Deflated = (byte)'Z';
    private const byte ZeroPage = 0, DataPage = 1;

    /// <summary>The largest body of a record: every page a data page.</summary>
    public const int MaxBody = PagesPerRecord * (5 + PageSize);

    /// <summary>What the pages of one bitmap cost on the stream, and would have cost uncompressed.</summary>
    public readonly record struct Sent(long Bytes, long Uncompressed);

    /// <summary>Sends the pages marked in <paramref name="bitmap"/>.</summary>
    public static async Task<Sent> SendAsync(GuestMemory memory, ulong[] bitmap, Stream output, bool compress, CancellationToken cancel)
    {
        var record = new byte[5 + MaxBody];
        var zipped = compress ? new MemoryStream(MaxBody) : null;
        int at = 5, inRecord = 0;
        long written = 0, uncompressed = 0;
        ulong pages = memory.Size / (ulong)PageSize;
        for (int w = 0; w < bitmap.Length; w++)
        {
            for (ulong bits = bitmap[w]; bits != 0; bits &= bits - 1)
            {
                ulong page = ((ulong)w * 64) + (ulong)BitOperations.TrailingZeroCount(bits);
                if (page >= pages)
                {
                    break;
                }

                // Read while the guest may write it: a page torn here was dirtied again, so the next round resends it.
                var bytes = memory.Span(page * (ulong)PageSize, PageSize);
                BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(at), (uint)page);
                if (bytes.ContainsAnyExcept((byte)0))
                {
                    record[at + 4] = DataPage;
                    bytes.CopyTo(record.AsSpan(at + 5));
                    at += 5 + PageSize;
                }
                else
                {
                    record[at + 4] = ZeroPage;
                    at += 5;
                }

                if (++inRecord == PagesPerRecord)
                {
                    await FlushRecord().ConfigureAwait(false);
                }
            }
        }

        if (inRecord > 0)
        {
            await FlushRecord().ConfigureAwait(false);
        }

        return new Sent(written, uncompressed);

        async Task FlushRecord()
        {
            uncompressed += at;
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(1), (uint)inRecord);
            if (zipped is not null && Deflate(record.AsSpan(5, at - 5), zipped) is int length && length + 13 < at)
            {
                var head = new byte[13];
                head[0] = Deflated;
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(1), (uint)inRecord);
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(5), (uint)(at - 5));
                BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(9), (uint)length);
                await output.WriteAsync(head, cancel).ConfigureAwait(false);
                await output.WriteAsync(zipped.GetBuffer().AsMemory(0, length), cancel).ConfigureAwait(false);
                written += head.Length + length;
            }
            else
            {
                record[0] = Plain;
                await output.WriteAsync(record.AsMemory(0, at), cancel).ConfigureAwait(false);
                written += at;
            }

            at = 5;
            inRecord = 0;
        }
    }

    /// <summary>Compresses <paramref name="body"/> into <paramref name="into"/> (emptied first); returns the compressed length.</summary>
    private static int Deflate(ReadOnlySpan<byte> body, MemoryStream into)
    {
        into.SetLength(0);
        using (var deflate = new ZLibStream(into, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(body);
        }

        return (int)into.Length;
    }

    /// <summary>Reads the body of a 'P' record of <paramref name="count"/> pages (its tag and count read) into the staged RAM.</summary>
    public static async Task ReadPlainAsync(Stream input, uint count, StagedRam staged, CancellationToken cancel)
    {
        CheckCount(count);
        var entry = new byte[5];
        var pageBytes = new byte[PageSize];
        for (uint i = 0; i < count; i++)
        {
            await LiveMigration.ReadExactlyAsync(input, entry, "a page", cancel).ConfigureAwait(false);
            ulong page = Check(entry, staged);
            if (entry[4] == ZeroPage)
            {
                staged.Page(page).Clear();
            }
            else
            {
                await LiveMigration.ReadExactlyAsync(input, pageBytes, "a page's bytes", cancel).ConfigureAwait(false);
                pageBytes.CopyTo(staged.Page(page));
            }
        }
    }

    /// <summary>Reads a 'Z' record (its tag read): count u32, body length u32, length u32, the compressed body; refuses one that does not inflate to exactly its body and pages.</summary>
    public static async Task ReadDeflatedAsync(Stream input, StagedRam staged, byte[] scratch, CancellationToken cancel)
    {
        var head = new byte[12];
        await LiveMigration.ReadExactlyAsync(input, head, "a compressed page record", cancel).ConfigureAwait(false);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(head);
        uint bodyLength = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(4));
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(8));
        CheckCount(count);
        if (bodyLength > MaxBody)
        {
            throw Damaged($"a body of {bodyLength} bytes (at most {MaxBody})");
        }

        if (length == 0 || length > MaxBody)
        {
            throw Damaged($"{length} compressed bytes (at most {MaxBody})");
        }

        var zipped = new byte[length];
        await LiveMigration.ReadExactlyAsync(input, zipped, "a compressed page record", cancel).ConfigureAwait(false);
        int body = Inflate(zipped, scratch);
        if (body != bodyLength)
        {
            throw Damaged($"it inflates to {body} bytes, not the {bodyLength} it names");
        }

        var span = scratch.AsSpan(0, body);
        for (uint i = 0; i < count; i++)
        {
            if (span.Length < 5)
            {
                throw Damaged($"it holds {i} of its {count} pages");
            }

            ulong page = Check(span[..5], staged);
            if (span[4] == ZeroPage)
            {
                staged.Page(page).Clear();
                span = span[5..];
            }
            else
            {
                if (span.Length < 5 + PageSize)
                {
                    throw Damaged($"page {page} is cut short");
                }

                span.Slice(5, PageSize).CopyTo(staged.Page(page));
                span = span[(5 + PageSize)..];
            }
        }

        if (!span.IsEmpty)
        {
            throw Damaged($"{span.Length} bytes after its {count} pages");
        }
    }

    /// <summary>Inflates into <paramref name="scratch"/> (MaxBody + 1 bytes: one more than any record can hold, to see an overlong one).</summary>
    private static int Inflate(byte[] zipped, byte[] scratch)
    {
        try
        {
            using var inflate = new ZLibStream(new MemoryStream(zipped), CompressionMode.Decompress);
            int total = 0;
            while (total < scratch.Length)
            {
                int n = inflate.Read(scratch, total, scratch.Length - total);
                if (n == 0)
                {
                    return total;
                }

                total += n;
            }

            throw Damaged($"it inflates to more than {MaxBody} bytes");
        }
        catch (InvalidDataException e)
        {
            throw Damaged(e.Message);
        }
    }

    private static SnapshotFormatException Damaged(string why) => new("migration stream", $"a compressed page record is damaged: {why}");

    private static void CheckCount(uint count)
    {
        if (count > PagesPerRecord)
        {
            throw new SnapshotFormatException("migration stream", $"a record of {count} pages (at most {PagesPerRecord})");
        }
    }

    private static ulong Check(ReadOnlySpan<byte> entry, StagedRam staged)
    {
        ulong page = BinaryPrimitives.ReadUInt32LittleEndian(entry);
        if (page >= staged.Pages || entry[4] > DataPage)
        {
            throw new SnapshotFormatException("migration stream", $"page {page} (kind {entry[4]}) is not in {staged.Size >> 20} MiB of RAM");
        }

        return page;
    }
}

/// <summary>The target's copy of guest RAM until the machine exists (native: RAM may pass 2 GiB).</summary>
internal sealed unsafe class StagedRam(ulong size) : IDisposable
{
    private readonly byte* bytes = (byte*)NativeMemory.AllocZeroed((nuint)size);

    public ulong Size => size;

    public ulong Pages => size / PageRecords.PageSize;

    // Safe: the page number was checked against Pages (PageRecords.Check) before it gets here.
    public Span<byte> Page(ulong page) => new(bytes + (page * PageRecords.PageSize), PageRecords.PageSize);

    /// <summary>Into the restored machine's RAM: this copy is part of the guest's downtime (a target that made its machine first would not need it).</summary>
    public void CopyTo(GuestMemory memory) => Buffer.MemoryCopy(bytes, memory.Ram, memory.Size, size);

    public void Dispose() => NativeMemory.Free(bytes);
}

using System.Buffers.Binary;
using Emulator.Devices.Bus;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;

namespace Emulator.Devices.Tests;

/// <summary>A virtio-blk request as a test driver lays it out: header, data, status byte (5.2.6).</summary>
public sealed record BlkSubmission(ushort Head, ulong Header, ulong Data, int DataLength, ulong Status);

public static class VirtioBlkTestKit
{
    public const ulong Version1 = 1UL << 32;
    public const ulong IndirectDesc = 1UL << 28;
    public const ulong EventIdx = 1UL << 29;

    public static byte[] Header(uint type, ulong sector)
    {
        var h = new byte[RequestHeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), sector);
        return h;
    }

    public static byte[] DiscardSegment(ulong sector, uint sectors, uint flags = 0)
    {
        var s = new byte[DiscardSegmentSize];
        BinaryPrimitives.WriteUInt64LittleEndian(s, sector);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(8), sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(12), flags);
        return s;
    }

    /// <summary>
    /// Lays out a request as Linux does (header, data, status in separate descriptors), makes it
    /// available and notifies. <paramref name="dataOut"/> for OUT/DISCARD, <paramref name="dataInLength"/> for IN/GET_ID.
    /// </summary>
    public static BlkSubmission Submit(this VirtioTestDriver d, uint type, ulong sector, byte[]? dataOut = null, int dataInLength = 0, bool indirect = false, bool notify = true)
    {
        ulong header = d.AllocBytes(Header(type, sector));
        ulong status = d.Alloc(1);
        d.Ram.Span(status, 1)[0] = 0xEE; // not a valid status: shows whether the device wrote it
        var buffers = new List<(ulong, uint, bool)> { (header, RequestHeaderSize, false) };
        ulong data = 0;
        int dataLength = 0;
        if (dataOut is not null)
        {
            data = d.AllocBytes(dataOut);
            dataLength = dataOut.Length;
            buffers.Add((data, (uint)dataLength, false));
        }
        else if (dataInLength > 0)
        {
            data = d.Alloc(dataInLength);
            dataLength = dataInLength;
            buffers.Add((data, (uint)dataLength, true));
        }

        buffers.Add((status, 1, true));
        ushort head = indirect ? d.WriteIndirectChain([.. buffers]) : d.WriteChain([.. buffers]);
        d.MakeAvailable(head);
        if (notify)
        {
            d.Notify();
        }

        return new BlkSubmission(head, header, data, dataLength, status);
    }

    public static byte StatusOf(this VirtioTestDriver d, BlkSubmission s) => d.Ram.Span(s.Status, 1)[0];

    public static byte[] DataOf(this VirtioTestDriver d, BlkSubmission s) => d.Ram.Span(s.Data, s.DataLength).ToArray();

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++)
        {
            b[i] = (byte)(i * 7 + seed);
        }

        return b;
    }
}

/// <summary>
/// A block backend over a byte array for device tests. Immediate mode completes inside Submit (as
/// if the backend answered at once); deferred mode holds completions until <see cref="CompleteAll"/>.
/// </summary>
public sealed class MemoryBlockBackend(byte[] disk, bool readOnly = false, bool deferred = false) : IBlockBackend
{
    private readonly List<(long Bytes, Action Complete)> pending = [];

    public byte[] Disk { get; } = disk;

    public ulong SizeBytes => (ulong)Disk.Length;

    public bool IsReadOnly { get; } = readOnly;

    public List<BlockRequest> Requests { get; } = [];

    public int Pending => pending.Count;

    /// <summary>Data bytes (read lengths, write data) of the requests held in deferred mode.</summary>
    public long PendingBytes => pending.Sum(p => p.Bytes);

    /// <summary>The most <see cref="PendingBytes"/> has been.</summary>
    public long MaxPendingBytes { get; private set; }

    /// <summary>The largest data transfer of one request seen.</summary>
    public long LargestRequest { get; private set; }

    public void Submit(BlockRequest request, Action<BlockCompletion> completed)
    {
        Requests.Add(request);
        long bytes = request.Data?.Length ?? (request.Operation == BlockOperation.Read ? request.Length : 0);
        LargestRequest = Math.Max(LargestRequest, bytes);
        var result = Execute(request);
        if (deferred)
        {
            pending.Add((bytes, () => completed(result)));
            MaxPendingBytes = Math.Max(MaxPendingBytes, PendingBytes);
        }
        else
        {
            completed(result);
        }
    }

    /// <summary>Completes what is held now (completions may submit more, which are held for the next call).</summary>
    public void CompleteAll()
    {
        var now = pending.ToArray();
        pending.Clear();
        foreach (var (_, complete) in now)
        {
            complete();
        }
    }

    private BlockCompletion Execute(BlockRequest r)
    {
        switch (r.Operation)
        {
            case BlockOperation.Read:
                return new BlockCompletion(BlockStatus.Ok, Disk.AsSpan((int)r.Offset, r.Length).ToArray());
            case BlockOperation.Write:
                r.Data!.CopyTo(Disk.AsSpan((int)r.Offset));
                return new BlockCompletion(BlockStatus.Ok);
            case BlockOperation.Discard:
            case BlockOperation.WriteZeroes:
                foreach (var range in r.Ranges!)
                {
                    Disk.AsSpan((int)range.Offset, (int)range.Length).Clear();
                }

                return new BlockCompletion(BlockStatus.Ok);
            default:
                return new BlockCompletion(BlockStatus.Ok);
        }
    }
}

using System.Buffers.Binary;
using System.Text;
using Emulator.Devices.Bus;
using Emulator.Devices.Virtio;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;

namespace Emulator.Devices.VirtioBlk;

/// <summary>
/// A virtio block device (virtio 1.1 section 5.2) with one request queue. It parses each request
/// chain, hands the I/O to an <see cref="IBlockBackend"/> and completes the chain (data, status
/// byte, used element, interrupt) when the backend's completion arrives, so the vCPU that
/// notified never waits for the disk. Request layout is not assumed (2.6.4.3): the header is the
/// first 16 device-readable bytes, the status the last device-writable byte.
///
/// A request the device cannot serve (beyond the disk's end, buffers outside RAM, too large,
/// write to a read-only image) gets VIRTIO_BLK_S_IOERR; an unknown type UNSUPP. A chain that
/// cannot be walked (loop, bad index, descriptor table outside RAM) or has no status byte in RAM
/// is returned in the used ring with length 0 and no status written ("dropped"), so the driver
/// can reclaim its descriptors; <see cref="MalformedChains"/> counts both kinds.
///
/// Host memory is bounded whatever the guest asks: a read or write moves between guest RAM and the
/// backend in chunks of at most <see cref="VirtioBlkOptions.ChunkBytes"/>, one chunk per request at
/// a time, and the chunks of all requests in flight hold at most
/// <see cref="VirtioBlkOptions.MaxBytesInFlight"/> bytes; requests beyond wait in order (none is
/// dropped). A driver that makes more chains available than the queue has descriptors for (a
/// head offered again before it was used) breaks the queue, as QEMU does, rather than growing
/// the device's list of requests.
/// Not thread-safe: calls and backend completions come one at a time from the device's actor.
/// </summary>
public sealed partial class VirtioBlk : IVirtioDevice
{
    private readonly IBlockBackend backend;
    private readonly VirtioBlkOptions options;
    private readonly byte[] id = new byte[IdBytes];
    private IVirtioTransport? transport;

    // Reads and writes waiting for their next chunk to go to the backend, in order.
    private readonly Queue<Transfer> waiting = new();

    // Bumped by a reset: completions of requests submitted before it are ignored, because the
    // driver may already have reused their buffers and rings.
    private long generation;

    // Host buffer bytes of chunks at the backend (including those of requests a reset abandoned,
    // until they complete: their buffers exist until then).
    private long bytesInFlight;

    // Set while chunks are being started, so a backend that completes inside Submit does not recurse.
    private bool pumping;

    public VirtioBlk(IBlockBackend backend, VirtioBlkOptions? options = null)
    {
        this.backend = backend;
        this.options = options ?? new VirtioBlkOptions();
        Encoding.ASCII.GetBytes(this.options.Serial.AsSpan(0, Math.Min(this.options.Serial.Length, IdBytes)), id);
    }

    public uint DeviceType => VirtioBlkRegisters.DeviceType;

    public ulong DeviceFeatures =>
        (1UL << FeatureSizeMax) | (1UL << FeatureSegMax) | (1UL << FeatureBlkSize) | (1UL << FeatureFlush)
        | (1UL << FeatureDiscard) | (1UL << FeatureWriteZeroes) | (backend.IsReadOnly ? 1UL << FeatureRo : 0);

    public IReadOnlyList<ushort> QueueMaxSizes => [options.QueueSize];

    public ulong CapacitySectors => backend.SizeBytes / SectorSize;

    /// <summary>Requests taken off the queue and handed to the backend (or waiting for their turn), not yet completed.</summary>
    public int InFlight { get; private set; }

    /// <summary>Host buffer bytes of reads and writes at the backend now.</summary>
    public long BytesInFlight => bytesInFlight;

    /// <summary>The most <see cref="BytesInFlight"/> has been.</summary>
    public long PeakBytesInFlight { get; private set; }

    /// <summary>The largest host buffer one piece of a request has used (at most <see cref="VirtioBlkOptions.ChunkBytes"/>).</summary>
    public long LargestChunk { get; private set; }

    public long MalformedChains { get; private set; }

    /// <summary>Names the span of each request (see <see cref="VirtioBlkTrace"/>); no spans when null.</summary>
    public DeviceTrace? Trace { get; init; }

    private IVirtioTransport Transport => transport ?? throw new InvalidOperationException("virtio-blk is not attached to a transport");

    public void Attach(IVirtioTransport t) => transport = t;

    public void Reset()
    {
        generation++;
        InFlight = 0;
        waiting.Clear();
    }

    public bool ReadConfig(int offset, int size, out ulong value)
    {
        value = 0;
        if (size is not (1 or 2 or 4 or 8) || offset < 0 || offset + size > ConfigSize)
        {
            return false;
        }

        Span<byte> config = stackalloc byte[ConfigSize];
        config.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(config[ConfigCapacity..], CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigSizeMax..], options.SizeMax);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigSegMax..], options.SegMax);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigBlkSize..], SectorSize);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigMaxDiscardSectors..], options.MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigMaxDiscardSeg..], options.MaxDiscardSegments);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigDiscardSectorAlignment..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigMaxWriteZeroesSectors..], options.MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(config[ConfigMaxWriteZeroesSeg..], options.MaxDiscardSegments);
        Span<byte> v = stackalloc byte[8];
        v.Clear();
        config.Slice(offset, size).CopyTo(v);
        value = BinaryPrimitives.ReadUInt64LittleEndian(v);
        return true;
    }

    /// <summary>No field is writable: the writeback field needs VIRTIO_BLK_F_CONFIG_WCE, which is not offered.</summary>
    public bool WriteConfig(int offset, int size, ulong value) => false;

    public void QueueNotify(VirtQueue queue)
    {
        var t = Transport;
        bool eventIdx = t.HasFeature(VirtioMmioRegisters.FeatureRingEventIdx);
        bool indirect = t.HasFeature(VirtioMmioRegisters.FeatureRingIndirectDesc);
        while (true)
        {
            while (InFlight < queue.Size && queue.TryPop(t.Memory, indirect, out var chain))
            {
                Handle(queue, chain!);
            }

            if (InFlight >= queue.Size && queue.HasAvailable(t.Memory))
            {
                // Every descriptor is the device's until used, so a driver cannot have more chains
                // outstanding than the queue size (2.6.5); one more means a head was offered twice.
                queue.Broken = true;
            }

            if (queue.Broken)
            {
                // The available ring itself is corrupt: nothing can be answered (2.1.2).
                MalformedChains++;
                t.NeedsReset();
                return;
            }

            if (!eventIdx)
            {
                return;
            }

            // 2.6.10: ask for a notification at the next entry, then look again in case the
            // driver added one before it could see avail_event.
            queue.SetAvailEvent(t.Memory);
            if (!queue.HasAvailable(t.Memory))
            {
                return;
            }
        }
    }

    private void Handle(VirtQueue queue, DescriptorChain chain)
    {
        var request = BlkRequest.Parse(chain, Transport.Memory);
        if (request is null)
        {
            MalformedChains++;
            Complete(queue, chain.Head, 0);
            return;
        }

        if (Trace is not null && DeviceTrace.Enabled)
        {
            request.TraceStart = DateTime.UtcNow;
        }

        if (request.Malformed)
        {
            MalformedChains++;
            Finish(queue, request, StatusIoErr);
            return;
        }

        switch (request.Type)
        {
            case TypeIn:
                SubmitRead(queue, request);
                break;
            case TypeOut:
                SubmitWrite(queue, request);
                break;
            case TypeFlush:
                Submit(queue, request, new BlockRequest(BlockOperation.Flush));
                break;
            case TypeGetId:
                int n = (int)Math.Min((ulong)IdBytes, request.DataInLength);
                Finish(queue, request, request.WriteDataIn(Transport.Memory, id.AsSpan(0, n)) ? StatusOk : StatusIoErr, (uint)n);
                break;
            case TypeDiscard:
            case TypeWriteZeroes:
                SubmitDiscard(queue, request);
                break;
            default:
                Finish(queue, request, StatusUnsupp);
                break;
        }
    }

    private bool InRange(ulong sector, ulong bytes) =>
        sector <= CapacitySectors && bytes / SectorSize <= CapacitySectors - sector;

    private void SubmitRead(VirtQueue queue, BlkRequest request)
    {
        ulong length = request.DataInLength;
        if (length % SectorSize != 0 || length > options.MaxTransferBytes || !InRange(request.Sector, length))
        {
            Finish(queue, request, StatusIoErr);
            return;
        }

        StartTransfer(queue, request, BlockOperation.Read, length);
    }

    private void SubmitWrite(VirtQueue queue, BlkRequest request)
    {
        ulong length = request.DataOutLength;
        if (backend.IsReadOnly || length % SectorSize != 0 || length > options.MaxTransferBytes || !InRange(request.Sector, length))
        {
            Finish(queue, request, StatusIoErr);
            return;
        }

        StartTransfer(queue, request, BlockOperation.Write, length);
    }

    private void SubmitDiscard(VirtQueue queue, BlkRequest request)
    {
        bool zeroes = request.Type == TypeWriteZeroes;
        if (!Transport.HasFeature(zeroes ? FeatureWriteZeroes : FeatureDiscard))
        {
            Finish(queue, request, StatusUnsupp);
            return;
        }

        ulong length = request.DataOutLength;
        if (backend.IsReadOnly || length == 0 || length % DiscardSegmentSize != 0 || length / DiscardSegmentSize > options.MaxDiscardSegments)
        {
            Finish(queue, request, StatusIoErr);
            return;
        }

        var data = new byte[length];
        if (!request.ReadDataOut(Transport.Memory, data))
        {
            Finish(queue, request, StatusIoErr);
            return;
        }

        var ranges = new List<BlockRange>();
        for (int i = 0; i < data.Length; i += DiscardSegmentSize)
        {
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(i));
            uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(i + 8));
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(i + 12));

            // 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP; the unmap hint of
            // write-zeroes may be ignored (write_zeroes_may_unmap is 0).
            if ((flags & ~DiscardFlagUnmap) != 0 || (!zeroes && flags != 0))
            {
                Finish(queue, request, StatusUnsupp);
                return;
            }

            if (sectors > options.MaxDiscardSectors || !InRange(sector, (ulong)sectors * SectorSize))
            {
                Finish(queue, request, StatusIoErr);
                return;
            }

            ranges.Add(new BlockRange(sector * SectorSize, (ulong)sectors * SectorSize));
            request.RangeBytes += (ulong)sectors * SectorSize;
        }

        Submit(queue, request, new BlockRequest(zeroes ? BlockOperation.WriteZeroes : BlockOperation.Discard, Ranges: ranges));
    }

    private void Submit(VirtQueue queue, BlkRequest request, BlockRequest io)
    {
        long submittedIn = generation;
        InFlight++;
        backend.Submit(io, completion =>
        {
            if (submittedIn != generation)
            {
                return;
            }

            InFlight--;
            Finish(queue, request, completion.Status == BlockStatus.Ok ? StatusOk : StatusIoErr);
        });
    }

    /// <summary>Starts a read or write of <paramref name="length"/> bytes: it goes to the backend in chunks, as the bound on bytes in flight allows.</summary>
    private void StartTransfer(VirtQueue queue, BlkRequest request, BlockOperation operation, ulong length)
    {
        if (length == 0)
        {
            Finish(queue, request, StatusOk);
            return;
        }

        InFlight++;
        waiting.Enqueue(new Transfer(queue, request, operation, length, generation));
        Pump();
    }

    /// <summary>Hands waiting chunks to the backend, oldest first, while they fit the bound on bytes in flight.</summary>
    private void Pump()
    {
        if (pumping)
        {
            return;
        }

        pumping = true;
        try
        {
            while (waiting.TryPeek(out var t))
            {
                int chunk = (int)Math.Min((ulong)options.ChunkBytes, t.Length - t.Done);
                if (bytesInFlight > 0 && bytesInFlight + chunk > options.MaxBytesInFlight)
                {
                    return;
                }

                waiting.Dequeue();
                StartChunk(t, chunk);
            }
        }
        finally
        {
            pumping = false;
        }
    }

    private void StartChunk(Transfer t, int chunk)
    {
        byte[]? data = null;
        if (t.Operation == BlockOperation.Write)
        {
            data = new byte[chunk];
            if (!t.Request.ReadDataOut(Transport.Memory, data, t.Done))
            {
                InFlight--;
                Finish(t.Queue, t.Request, StatusIoErr);
                return;
            }
        }

        bytesInFlight += chunk;
        PeakBytesInFlight = Math.Max(PeakBytesInFlight, bytesInFlight);
        LargestChunk = Math.Max(LargestChunk, chunk);
        var io = new BlockRequest(t.Operation, t.Request.Sector * SectorSize + t.Done, chunk, data);
        backend.Submit(io, completion => ChunkDone(t, chunk, completion));
    }

    private void ChunkDone(Transfer t, int chunk, BlockCompletion completion)
    {
        bytesInFlight -= chunk;
        if (t.Generation == generation)
        {
            bool ok = completion.Status == BlockStatus.Ok;
            if (ok && t.Operation == BlockOperation.Read)
            {
                ok = completion.Data is { } data && data.Length == chunk && t.Request.WriteDataIn(Transport.Memory, data, t.Done);
            }

            t.Done += (ulong)chunk;
            if (!ok || t.Done == t.Length)
            {
                InFlight--;
                uint written = ok && t.Operation == BlockOperation.Read ? (uint)t.Length : 0;
                Finish(t.Queue, t.Request, ok ? StatusOk : StatusIoErr, written);
            }
            else
            {
                waiting.Enqueue(t);
            }
        }

        Pump();
    }

    /// <summary>Writes the status byte and returns the chain; <paramref name="dataWritten"/> bytes of data-in precede it.</summary>
    private void Finish(VirtQueue queue, BlkRequest request, byte status, uint dataWritten = 0)
    {
        bool written = Transport.Memory.TryWrite(request.StatusAddress, [status]);
        if (Trace is not null && request.TraceStart != default)
        {
            VirtioBlkTrace.Record(Trace, request, written ? VirtioBlkTrace.Status(status) : "dropped");
        }

        if (!written)
        {
            MalformedChains++;
            Complete(queue, request.Head, 0);
            return;
        }

        Complete(queue, request.Head, dataWritten + 1);
    }

    private void Complete(VirtQueue queue, ushort head, uint length)
    {
        if (queue.PushUsed(Transport.Memory, head, length))
        {
            Transport.SignalUsed(queue);
        }
        else
        {
            Transport.NeedsReset();
        }
    }

    /// <summary>A read or write under way: how much of it has been moved so far.</summary>
    private sealed class Transfer(VirtQueue queue, BlkRequest request, BlockOperation operation, ulong length, long generation)
    {
        public VirtQueue Queue => queue;

        public BlkRequest Request => request;

        public BlockOperation Operation => operation;

        public ulong Length => length;

        public long Generation => generation;

        public ulong Done { get; set; }
    }
}

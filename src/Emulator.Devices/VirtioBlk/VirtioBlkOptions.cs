namespace Emulator.Devices.VirtioBlk;

/// <summary>Choices for a <see cref="VirtioBlk"/> that are not properties of the image.</summary>
public sealed record VirtioBlkOptions
{
    /// <summary>The ID string GET_ID returns (at most 20 ASCII bytes; Linux shows it as /sys/block/vda/serial).</summary>
    public string Serial { get; init; } = "emu-virtio-blk";

    /// <summary>QueueNumMax of the request queue.</summary>
    public ushort QueueSize { get; init; } = 256;

    /// <summary>size_max: the largest buffer of a request, in bytes.</summary>
    public uint SizeMax { get; init; } = 256 * 1024;

    /// <summary>Sectors one discard or write-zeroes segment may cover.</summary>
    public uint MaxDiscardSectors { get; init; } = 32 * 1024;

    /// <summary>Segments one discard or write-zeroes request may carry.</summary>
    public uint MaxDiscardSegments { get; init; } = 16;

    /// <summary>seg_max: data buffers per request; the queue size minus the header and status descriptors (as QEMU).</summary>
    public uint SegMax => (uint)QueueSize - 2;

    /// <summary>The largest data transfer of one request (about 63.5 MiB); larger ones get IOERR.</summary>
    public ulong MaxTransferBytes => (ulong)SegMax * SizeMax;

    /// <summary>
    /// The largest piece of a read or write handed to the backend at once, and so the largest host
    /// buffer one request holds: a request is moved between guest RAM and the disk one chunk at a
    /// time, however large it is and however its descriptors alias guest memory.
    /// </summary>
    public int ChunkBytes { get; init; } = 1 << 20;

    /// <summary>
    /// The host buffer bytes of all reads and writes of the device in flight at the backend at once;
    /// a chunk that would go beyond waits (in order) until earlier chunks complete.
    /// </summary>
    public long MaxBytesInFlight { get; init; } = 4 << 20;
}

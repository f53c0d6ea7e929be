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

    /// <summary>The largest data transfer of one request; larger ones get IOERR rather than a host allocation the guest controls.</summary>
    public ulong MaxTransferBytes => (ulong)SegMax * SizeMax;
}

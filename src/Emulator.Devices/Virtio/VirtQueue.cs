using System.Buffers.Binary;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;

namespace Emulator.Devices.Virtio;

/// <summary>One buffer of a descriptor chain: guest physical address, length, and whether the device writes it.</summary>
public readonly record struct VirtqBuffer(ulong Address, uint Length, bool IsWritable);

/// <summary>Why a descriptor chain could not be walked (virtio 1.1 section 2.6.5).</summary>
public enum ChainError
{
    None,

    /// <summary>A descriptor (or indirect table) lies outside guest RAM.</summary>
    OutOfRam,

    /// <summary>A next index is not below the table size.</summary>
    BadIndex,

    /// <summary>More descriptors than the queue size: a cycle or an over-long chain (2.6.5: "the driver MUST NOT create a descriptor chain longer than the Queue Size").</summary>
    TooLong,

    /// <summary>An indirect descriptor without the feature, with NEXT, nested, or with a length that is not a non-zero multiple of 16 (2.6.5.3.1).</summary>
    BadIndirect,

    /// <summary>A device-readable buffer after a device-writable one (2.6.4.2).</summary>
    ReadableAfterWritable,
}

/// <summary>
/// A chain popped from the available ring. When <see cref="Error"/> is set, <see cref="Buffers"/>
/// holds the descriptors walked before the error, and the device decides whether it can still
/// answer (virtio-blk needs its status byte, the last writable byte of the chain).
/// </summary>
public sealed class DescriptorChain(ushort head, List<VirtqBuffer> buffers, ChainError error)
{
    public ushort Head { get; } = head;

    public IReadOnlyList<VirtqBuffer> Buffers { get; } = buffers;

    public ChainError Error { get; } = error;
}

/// <summary>
/// A split virtqueue (virtio 1.1 section 2.6): the descriptor table, the available ring written
/// by the driver and the used ring written by the device, all in guest memory. The device side
/// only: it pops chains from the available ring, pushes used elements, and applies the
/// notification suppression rules (2.6.7, 2.6.10 with VIRTIO_F_EVENT_IDX).
/// </summary>
public sealed partial class VirtQueue
{
    public VirtQueue(int index, ushort maxSize)
    {
        Index = index;
        MaxSize = maxSize;
        Reset();
    }

    public int Index { get; }

    /// <summary>QueueNumMax: the largest size the device supports.</summary>
    public ushort MaxSize { get; }

    /// <summary>QueueNum: the size the driver chose (a power of 2, at most <see cref="MaxSize"/>).</summary>
    public ushort Size { get; set; }

    public bool Ready { get; set; }

    public ulong DescTable { get; set; }

    /// <summary>The available ring ("driver area").</summary>
    public ulong AvailRing { get; set; }

    /// <summary>The used ring ("device area").</summary>
    public ulong UsedRing { get; set; }

    /// <summary>The device's copy of the next available-ring index it will read.</summary>
    public ushort LastAvailIdx { get; set; }

    /// <summary>The device's copy of the used ring's idx.</summary>
    public ushort UsedIdx { get; set; }

    /// <summary>UsedIdx at the last interrupt (for VIRTIO_F_EVENT_IDX), valid once one was considered.</summary>
    public ushort SignalledUsed { get; set; }

    public bool SignalledUsedValid { get; set; }

    /// <summary>The driver put more chains in the ring than it has room for: the queue is broken until reset.</summary>
    public bool Broken { get; set; }

    /// <summary>Whether the driver may choose <paramref name="size"/>: a power of 2 from 1 to <paramref name="maxSize"/> (2.6, 4.2.2.3).</summary>
    public static bool IsValidSize(uint size, ushort maxSize) => size != 0 && size <= maxSize && (size & (size - 1)) == 0;

    public void Reset()
    {
        Size = MaxSize;
        Ready = false;
        DescTable = AvailRing = UsedRing = 0;
        LastAvailIdx = UsedIdx = SignalledUsed = 0;
        SignalledUsedValid = false;
        Broken = false;
    }

    /// <summary>True when the driver has made chains available that the device has not popped.</summary>
    public bool HasAvailable(IGuestMemoryAccess memory) =>
        Ready && !Broken && memory.TryReadU16(AvailRing + 2, out ushort availIdx) && availIdx != LastAvailIdx;

    /// <summary>
    /// Pops the next available chain (2.6.6) and walks it (2.6.5, 2.6.5.3). Returns false when
    /// the ring is empty, unreadable, or broken (more entries than its size, or a head index not
    /// below the size: nothing can be returned to the driver for those).
    /// </summary>
    public bool TryPop(IGuestMemoryAccess memory, bool indirectNegotiated, out DescriptorChain? chain)
    {
        chain = null;
        if (!Ready || Broken || !memory.TryReadU16(AvailRing + 2, out ushort availIdx) || availIdx == LastAvailIdx)
        {
            return false;
        }

        if ((ushort)(availIdx - LastAvailIdx) > Size)
        {
            Broken = true;
            return false;
        }

        // Read the ring entry only after seeing idx (2.6.13.1: the driver publishes idx after the entry).
        Interlocked.MemoryBarrier();
        if (!memory.TryReadU16(AvailRing + 4 + 2UL * (ulong)(LastAvailIdx % Size), out ushort head))
        {
            Broken = true;
            return false;
        }

        LastAvailIdx++;
        if (head >= Size)
        {
            Broken = true;
            return false;
        }

        var buffers = new List<VirtqBuffer>();
        var error = Walk(memory, head, indirectNegotiated, buffers);
        chain = new DescriptorChain(head, buffers, error);
        return true;
    }

    private ChainError Walk(IGuestMemoryAccess memory, ushort head, bool indirectNegotiated, List<VirtqBuffer> buffers)
    {
        Span<byte> d = stackalloc byte[DescriptorSize];
        ulong table = DescTable;
        uint tableSize = Size;
        uint index = head;
        bool inIndirect = false;
        bool sawWritable = false;

        // Every descriptor visited, direct or indirect, counts against the queue size, so a cycle
        // ends after at most Size + 1 reads.
        for (int budget = Size; ; budget--)
        {
            if (index >= tableSize)
            {
                return ChainError.BadIndex;
            }

            if (budget == 0)
            {
                return ChainError.TooLong;
            }

            if (!memory.TryRead(table + (ulong)index * DescriptorSize, d))
            {
                return ChainError.OutOfRam;
            }

            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);

            if ((flags & DescFlagIndirect) != 0)
            {
                // 2.6.5.3.1: only with the feature, never with NEXT, never inside an indirect table.
                if (!indirectNegotiated || inIndirect || (flags & DescFlagNext) != 0 || len == 0 || len % DescriptorSize != 0)
                {
                    return ChainError.BadIndirect;
                }

                if (!memory.Contains(addr, len))
                {
                    return ChainError.OutOfRam;
                }

                table = addr;
                tableSize = len / DescriptorSize;
                index = 0;
                inIndirect = true;
                budget++; // the indirect descriptor itself is not a buffer of the chain
                continue;
            }

            bool writable = (flags & DescFlagWrite) != 0;
            if (!writable && sawWritable)
            {
                return ChainError.ReadableAfterWritable;
            }

            sawWritable |= writable;
            buffers.Add(new VirtqBuffer(addr, len, writable));
            if ((flags & DescFlagNext) == 0)
            {
                return ChainError.None;
            }

            index = next;
        }
    }

    /// <summary>Puts a used element (2.6.8) and publishes the new used idx; false if the used ring is outside RAM.</summary>
    public bool PushUsed(IGuestMemoryAccess memory, ushort head, uint writtenLength)
    {
        if (!Ready)
        {
            return false;
        }

        Span<byte> e = stackalloc byte[UsedElementSize];
        BinaryPrimitives.WriteUInt32LittleEndian(e, head);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], writtenLength);
        if (!memory.TryWrite(UsedRing + 4 + (ulong)(UsedIdx % Size) * UsedElementSize, e))
        {
            return false;
        }

        // The element must be visible before idx (2.6.8.1: "the device MUST ... update idx after the ring entry").
        Interlocked.MemoryBarrier();
        UsedIdx++;
        return memory.TryWriteU16(UsedRing + 2, UsedIdx);
    }

    /// <summary>
    /// Whether the driver wants an interrupt for the used elements pushed since the last call:
    /// with VIRTIO_F_EVENT_IDX, when used idx moved past used_event (2.6.10, vring_need_event);
    /// otherwise unless the available ring's flags say VIRTQ_AVAIL_F_NO_INTERRUPT (2.6.7).
    /// </summary>
    public bool ShouldInterrupt(IGuestMemoryAccess memory, bool eventIdx)
    {
        // Order our used idx store before reading the driver's suppression fields (2.6.7.2).
        Interlocked.MemoryBarrier();
        if (!eventIdx)
        {
            return !memory.TryReadU16(AvailRing, out ushort flags) || (flags & AvailFlagNoInterrupt) == 0;
        }

        bool valid = SignalledUsedValid;
        ushort old = SignalledUsed;
        SignalledUsed = UsedIdx;
        SignalledUsedValid = true;
        if (!valid || !memory.TryReadU16(AvailRing + 4 + 2UL * Size, out ushort usedEvent))
        {
            return true;
        }

        return NeedEvent(usedEvent, UsedIdx, old);
    }

    /// <summary>Publishes avail_event (2.6.10): the driver notifies again once it makes entry LastAvailIdx available.</summary>
    public void SetAvailEvent(IGuestMemoryAccess memory)
    {
        memory.TryWriteU16(UsedRing + 4 + (ulong)Size * UsedElementSize, LastAvailIdx);
        Interlocked.MemoryBarrier();
    }

    /// <summary>vring_need_event (2.6.10): true when event_idx lies in [old, new).</summary>
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);

}

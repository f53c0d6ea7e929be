using System.Buffers.Binary;
using Emulator.X86.Memory;

namespace Emulator.Devices.Virtio;

/// <summary>
/// A device's view of guest physical memory for DMA (virtqueue rings and buffers). Every access
/// is bounds-checked: an address outside RAM makes the call return false, never throw, because
/// the addresses come from the guest (a descriptor pointing outside RAM is a malformed chain).
/// </summary>
public interface IGuestMemoryAccess
{
    /// <summary>True when [address, address + length) lies entirely in guest RAM.</summary>
    bool Contains(ulong address, ulong length);

    bool TryRead(ulong address, Span<byte> destination);

    bool TryWrite(ulong address, ReadOnlySpan<byte> source);
}

/// <summary>Little-endian field helpers over <see cref="IGuestMemoryAccess"/> (virtio structures are little-endian, virtio 1.1 section 1.4).</summary>
public static class GuestMemoryAccessExtensions
{
    public static bool TryReadU16(this IGuestMemoryAccess memory, ulong address, out ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        bool ok = memory.TryRead(address, b);
        value = ok ? BinaryPrimitives.ReadUInt16LittleEndian(b) : (ushort)0;
        return ok;
    }

    public static bool TryWriteU16(this IGuestMemoryAccess memory, ulong address, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        return memory.TryWrite(address, b);
    }

    public static bool TryWriteU32(this IGuestMemoryAccess memory, ulong address, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return memory.TryWrite(address, b);
    }
}

/// <summary>
/// <see cref="IGuestMemoryAccess"/> over the machine's <see cref="GuestMemory"/>. Only RAM is
/// reachable: DMA into MMIO or past the end of RAM is refused (false), as a bus error would be.
/// </summary>
/// <param name="ram">Guest RAM.</param>
/// <param name="codeWritten">
/// Called with (guest physical address, length) when a device write touches a page that holds
/// translated code (<see cref="GuestMemory.IsCodePage"/>), so the machine can drop that code as it
/// does for a vCPU store; a disk read into a page the guest executed before must not leave stale
/// translations. Null for machines without a translation cache (tests).
/// </param>
public sealed class GuestRamAccess(GuestMemory ram, Action<ulong, int>? codeWritten = null) : IGuestMemoryAccess
{
    public bool Contains(ulong address, ulong length) => ram.Contains(address, length);

    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (!ram.Contains(address, (ulong)destination.Length))
        {
            return false;
        }

        ram.Span(address, destination.Length).CopyTo(destination);
        return true;
    }

    public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        if (!ram.Contains(address, (ulong)source.Length))
        {
            return false;
        }

        source.CopyTo(ram.Span(address, source.Length));
        ram.MarkDirty(address, (ulong)source.Length); // after the bytes: a migration round that takes the mark sends them
        if (codeWritten is not null && source.Length > 0)
        {
            ulong last = (address + (ulong)source.Length - 1) & ~GuestMemory.PageMask;
            for (ulong page = address & ~GuestMemory.PageMask; page <= last; page += GuestMemory.PageSize)
            {
                if (ram.IsCodePage(page))
                {
                    codeWritten(address, source.Length);
                    break;
                }
            }
        }

        return true;
    }
}

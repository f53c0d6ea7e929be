using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Emulator.X86.Memory;

/// <summary>
/// One softmmu TLB entry as compiled code reads it: for each access kind the linear page it
/// maps (or Invalid), and the addend that turns a linear address into a guest physical one
/// (physical = linear + Addend; the host address is RAM base + physical). 32 bytes, so an
/// entry's address is base + index * 32.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 32)]
public struct TlbEntry
{
    /// <summary>Never equal to a page-aligned address.</summary>
    public const ulong Invalid = ulong.MaxValue;

    public ulong ReadTag;
    public ulong WriteTag;
    public ulong FetchTag;
    public long Addend;

    public const int ReadTagOffset = 0;
    public const int WriteTagOffset = 8;
    public const int FetchTagOffset = 16;
    public const int AddendOffset = 24;
}

/// <summary>
/// The per-vCPU softmmu TLB: direct-mapped, indexed by linear page number. Its entries live
/// in the vCPU's area of guest memory (<see cref="VcpuArea"/>), where tier-1 code reads them;
/// what only the host needs (the physical page, the global bit) is kept beside them. A page
/// that holds translated code gets no write tag, so the first write takes the slow path and
/// invalidates the code (as QEMU's TLB_NOTDIRTY).
/// </summary>
public sealed unsafe class Tlb
{
    public const int Bits = 10;
    public const int Size = 1 << Bits;
    public const int EntryShift = 5;
    public const int Bytes = Size << EntryShift;

    private readonly TlbEntry* entries;
    private readonly ulong[] physPages = new ulong[Size];
    private readonly bool[] global = new bool[Size];

    /// <param name="entries">Room for <see cref="Size"/> entries, valid as long as this TLB.</param>
    public Tlb(TlbEntry* entries)
    {
        this.entries = entries;
        FlushAll();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int IndexOf(ulong linear) => (int)(linear >> GuestMemory.PageShift) & (Size - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TlbEntry EntryFor(ulong linear) => ref entries[IndexOf(linear)];

    /// <summary>Physical page of the entry for <paramref name="linear"/>'s slot.</summary>
    public ref ulong PhysPageOf(ulong linear) => ref physPages[IndexOf(linear)];

    public ref bool GlobalOf(ulong linear) => ref global[IndexOf(linear)];

    public void FlushAll()
    {
        for (int i = 0; i < Size; i++)
        {
            entries[i].ReadTag = entries[i].WriteTag = entries[i].FetchTag = TlbEntry.Invalid;
        }
    }

    /// <summary>Drops every entry that is not global (a CR3 write, SDM Vol. 3A 4.10.4.1).</summary>
    public void FlushNonGlobal()
    {
        for (int i = 0; i < Size; i++)
        {
            if (!global[i])
            {
                entries[i].ReadTag = entries[i].WriteTag = entries[i].FetchTag = TlbEntry.Invalid;
            }
        }
    }

    /// <summary>Drops the mapping of one linear page (INVLPG).</summary>
    public void FlushPage(ulong linear)
    {
        ref var e = ref EntryFor(linear);
        ulong page = linear & ~GuestMemory.PageMask;
        if (e.ReadTag == page || e.WriteTag == page || e.FetchTag == page)
        {
            e.ReadTag = e.WriteTag = e.FetchTag = TlbEntry.Invalid;
        }
    }

    public void RevokeAllWrites()
    {
        for (int i = 0; i < Size; i++)
        {
            entries[i].WriteTag = TlbEntry.Invalid;
        }
    }

    /// <summary>Removes write access to every entry that maps physical page <paramref name="physPage"/>.</summary>
    public void RevokeWrites(ulong physPage)
    {
        for (int i = 0; i < Size; i++)
        {
            if (physPages[i] == physPage)
            {
                entries[i].WriteTag = TlbEntry.Invalid;
            }
        }
    }
}

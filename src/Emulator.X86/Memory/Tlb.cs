using System.Runtime.CompilerServices;

namespace Emulator.X86.Memory;

/// <summary>
/// One softmmu TLB entry: for each access kind the linear page it maps (or Invalid), and the
/// addend that turns a linear address into a host address (host = linear + Addend).
/// </summary>
public struct TlbEntry
{
    /// <summary>Never equal to a page-aligned address.</summary>
    public const ulong Invalid = ulong.MaxValue;

    public ulong ReadTag;
    public ulong WriteTag;
    public ulong FetchTag;
    public long Addend;

    /// <summary>Guest physical address of the page.</summary>
    public ulong PhysPage;

    /// <summary>Mapped by a global page (CR4.PGE): survives CR3 writes.</summary>
    public bool Global;
}

/// <summary>
/// The per-vCPU softmmu TLB: direct-mapped, indexed by linear page number. A page that holds
/// translated code gets no write tag, so the first write takes the slow path and invalidates
/// the code (as QEMU's TLB_NOTDIRTY).
/// </summary>
public sealed class Tlb
{
    public const int Bits = 8;
    public const int Size = 1 << Bits;

    private readonly TlbEntry[] entries = new TlbEntry[Size];

    public Tlb() => FlushAll();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TlbEntry EntryFor(ulong linear) => ref entries[(int)(linear >> GuestMemory.PageShift) & (Size - 1)];

    public void FlushAll()
    {
        for (int i = 0; i < entries.Length; i++)
        {
            entries[i].ReadTag = entries[i].WriteTag = entries[i].FetchTag = TlbEntry.Invalid;
        }
    }

    /// <summary>Drops every entry that is not global (a CR3 write, SDM Vol. 3A 4.10.4.1).</summary>
    public void FlushNonGlobal()
    {
        for (int i = 0; i < entries.Length; i++)
        {
            if (!entries[i].Global)
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

    /// <summary>Removes write access to every entry that maps physical page <paramref name="physPage"/>.</summary>
    public void RevokeWrites(ulong physPage)
    {
        for (int i = 0; i < entries.Length; i++)
        {
            if (entries[i].PhysPage == physPage)
            {
                entries[i].WriteTag = TlbEntry.Invalid;
            }
        }
    }
}

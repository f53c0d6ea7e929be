using System.Runtime.CompilerServices;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>The kind of a memory access, for translation and permission checks.</summary>
public enum Access
{
    Read,
    Write,
    Fetch,
}

public sealed unsafe partial class Cpu
{
    private const ulong PageMask = GuestMemory.PageMask;
    private const ulong PageSize = GuestMemory.PageSize;

    /// <summary>Whether the last translation came from a global page (for the TLB entry it fills).</summary>
    private bool lastWalkGlobal;

    /// <summary>Reads 1, 2, 4 or 8 bytes at a linear address. False: a guest exception is recorded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Read(ulong la, int size, out ulong value)
    {
        ref var e = ref Tlb.EntryFor(la);
        if (e.ReadTag == (la & ~PageMask) && (la & PageMask) <= PageSize - (ulong)size)
        {
            value = Load(ram + (la + (ulong)e.Addend), size);
            return true;
        }

        return ReadSlow(la, size, out value);
    }

    /// <summary>Writes 1, 2, 4 or 8 bytes at a linear address. False: a guest exception is recorded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Write(ulong la, int size, ulong value)
    {
        ref var e = ref Tlb.EntryFor(la);
        if (e.WriteTag == (la & ~PageMask) && (la & PageMask) <= PageSize - (ulong)size)
        {
            StoreTo(ram + (la + (ulong)e.Addend), size, value);
            return true;
        }

        return WriteSlow(la, size, value);
    }

    /// <summary>
    /// Checks that a write of <paramref name="size"/> bytes at a linear address would not fault,
    /// without writing: helpers that store an image in several pieces (FXSAVE, FSAVE, FSTP m80)
    /// call it first, because x86 writes nothing of a store that faults (SDM Vol. 3A 4.7). The
    /// lowest faulting byte is reported. False: a guest exception is recorded.
    /// </summary>
    public bool ProbeWrite(ulong la, int size)
    {
        ulong last = la + (ulong)size - 1;
        return CanonicalAccess(la, size) && ProbeWritePage(la) && ((last & ~PageMask) == (la & ~PageMask) || ProbeWritePage(last & ~PageMask));
    }

    private bool ProbeWritePage(ulong la) => Tlb.EntryFor(la).WriteTag == (la & ~PageMask) || Translate(la, Access.Write, out _);

    /// <summary>
    /// A host pointer for an atomic read-modify-write of <paramref name="size"/> bytes at a linear
    /// address, after the write checks (and self-modifying-code invalidation) are done; null when
    /// the access crosses a page or is not RAM, and then <paramref name="ok"/> says whether it faulted.
    /// </summary>
    public byte* AtomicPointer(ulong la, int size, out bool ok)
    {
        ok = true;
        if ((la & PageMask) > PageSize - (ulong)size)
        {
            return null;
        }

        ref var e = ref Tlb.EntryFor(la);
        if (e.WriteTag != (la & ~PageMask) && !Fill(la, Access.Write, size, out _))
        {
            ok = e.WriteTag == (la & ~PageMask) || S.ExceptionVector < 0;
            return null;
        }

        return e.WriteTag == (la & ~PageMask) ? ram + (la + (ulong)e.Addend) : null;
    }

    /// <summary>
    /// Translates a linear address for instruction fetch through the TLB (a hit costs no page
    /// walk, as QEMU's get_page_addr_code). False: a guest exception is recorded.
    /// </summary>
    public bool TranslateFetch(ulong la, out ulong physical)
    {
        ref var e = ref Tlb.EntryFor(la);
        if (e.FetchTag == (la & ~PageMask))
        {
            physical = la + (ulong)e.Addend;
            return true;
        }

        if (!Translate(la, Access.Fetch, out physical))
        {
            return false;
        }

        // Only RAM pages are cached: a fetch from elsewhere is translated every time (and faults later).
        ulong physPage = physical & ~PageMask;
        if (Memory.Contains(physPage, PageSize))
        {
            FillEntry(la, physPage, Access.Fetch);
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load(byte* p, int size) => size switch
    {
        1 => *p,
        2 => Unsafe.ReadUnaligned<ushort>(p),
        4 => Unsafe.ReadUnaligned<uint>(p),
        _ => Unsafe.ReadUnaligned<ulong>(p),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTo(byte* p, int size, ulong v)
    {
        switch (size)
        {
            case 1: *p = (byte)v; break;
            case 2: Unsafe.WriteUnaligned(p, (ushort)v); break;
            case 4: Unsafe.WriteUnaligned(p, (uint)v); break;
            default: Unsafe.WriteUnaligned(p, v); break;
        }
    }

    private bool ReadSlow(ulong la, int size, out ulong value)
    {
        value = 0;
        if ((la & PageMask) > PageSize - (ulong)size)
        {
            if (!CanonicalAccess(la, size))
            {
                return false;
            }

            // Crosses a page: byte by byte, so each page is translated and checked (SDM Vol. 3A 4.7).
            for (int i = 0; i < size; i++)
            {
                if (!Read(la + (ulong)i, 1, out ulong b))
                {
                    return false;
                }

                value |= b << (8 * i);
            }

            return true;
        }

        if (!Fill(la, Access.Read, size, out ulong pa))
        {
            if (S.ExceptionVector >= 0)
            {
                return false;
            }

            if (Mmio?.TryRead(pa, size, out value) == true)
            {
                return true;
            }

            UnassignedAccesses++;
            value = size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
            return true;
        }

        ref var e = ref Tlb.EntryFor(la);
        value = Load(ram + (la + (ulong)e.Addend), size);
        return true;
    }

    private bool WriteSlow(ulong la, int size, ulong value)
    {
        if ((la & PageMask) > PageSize - (ulong)size)
        {
            // Check both pages before writing anything, so a fault leaves memory unchanged.
            ulong second = (la + (ulong)size) & ~PageMask;
            if (!CanonicalAccess(la, size) || !Translate(la, Access.Write, out _) || !Translate(second, Access.Write, out _))
            {
                return false;
            }

            for (int i = 0; i < size; i++)
            {
                if (!Write(la + (ulong)i, 1, value >> (8 * i)))
                {
                    return false;
                }
            }

            return true;
        }

        if (!Fill(la, Access.Write, size, out ulong pa))
        {
            if (S.ExceptionVector >= 0)
            {
                return false;
            }

            if (Mmio?.TryWrite(pa, size, value) != true)
            {
                UnassignedAccesses++;
            }

            return true;
        }

        ref var e = ref Tlb.EntryFor(la);
        StoreTo(ram + (la + (ulong)e.Addend), size, value);
        return true;
    }

    /// <summary>
    /// Fills the TLB entry for <paramref name="la"/> for one access kind. False when the page
    /// faulted (exception recorded) or is not RAM (nothing recorded; <paramref name="pa"/> says
    /// where the access goes). A write to a page that
    /// holds translated code first invalidates that code.
    /// </summary>
    private bool Fill(ulong la, Access access, int size, out ulong pa)
    {
        if (!Translate(la, access, out pa))
        {
            return false;
        }

        ulong physPage = pa & ~PageMask;
        if (!Memory.Contains(physPage, PageSize))
        {
            return false;
        }

        if (access == Access.Write && Memory.IsCodePage(physPage))
        {
            bool stillCode = CodeObserver?.OnCodeWrite(this, pa, size) ?? false;
            if (!stillCode)
            {
                Memory.ClearCodePage(physPage);
            }
        }

        FillEntry(la, physPage, access);
        return true;
    }

    /// <summary>Sets the tag of one access kind for <paramref name="la"/>'s page, mapping it to RAM page <paramref name="physPage"/>.</summary>
    private void FillEntry(ulong la, ulong physPage, Access access)
    {
        ref var e = ref Tlb.EntryFor(la);
        ref ulong entryPhys = ref Tlb.PhysPageOf(la);
        ulong page = la & ~PageMask;
        if (entryPhys != physPage || (e.ReadTag != page && e.WriteTag != page && e.FetchTag != page))
        {
            e.ReadTag = e.WriteTag = e.FetchTag = TlbEntry.Invalid;
        }

        entryPhys = physPage;
        Tlb.GlobalOf(la) = lastWalkGlobal;
        e.Addend = (long)physPage - (long)page;
        switch (access)
        {
            case Access.Read: e.ReadTag = page; break;
            case Access.Fetch: e.FetchTag = page; break;
            default:
                e.ReadTag = page;
                Memory.MarkDirty(physPage, PageSize); // before the tag: no unmarked store (GuestMemory.SwapDirtyLog)
                if (!Memory.IsCodePage(physPage))
                {
                    // Another vCPU may mark the page as code between that check and this store, and
                    // revoke write tags before this one exists. Both sides store, fence, then load
                    // (the marker: code bit, then the tags), so at least one sees the other: if the
                    // mark is visible after the fence, this vCPU takes its own tag back.
                    e.WriteTag = page;
                    Interlocked.MemoryBarrier();
                    if (Memory.IsCodePage(physPage))
                    {
                        e.WriteTag = TlbEntry.Invalid;
                    }
                }

                break;
        }

    }

    /// <summary>
    /// An access that crosses a page is checked whole for canonical addresses before either page
    /// is walked (SDM Vol. 3A 3.3.7.1): the last byte of one that starts just below the canonical
    /// gap is non-canonical, #GP(0), even when its first page is not present. False: #GP recorded.
    /// </summary>
    private bool CanonicalAccess(ulong la, int size)
    {
        if ((S.Efer & (1 << 10)) == 0 || (IsCanonical(la) && IsCanonical(la + (ulong)size - 1)))
        {
            return true;
        }

        RaiseException(Vector.GP, 0);
        return false;
    }

    /// <summary>
    /// Linear to physical: the linear address itself without paging (CR0.PG = 0), else the page
    /// walk for the current privilege level. False: #PF recorded.
    /// </summary>
    private bool Translate(ulong la, Access access, out ulong pa)
    {
        // In 64-bit mode a linear address must be canonical (SDM Vol. 3A 3.3.7.1): #GP(0) before
        // any page walk. Only the slow path gets here, and that suffices: no TLB entry is ever
        // filled for a non-canonical page, so such an address never hits. (A stack reference
        // raises #SS(0) on hardware; this check cannot tell the segment and raises #GP(0).)
        if ((S.Efer & (1 << 10)) != 0 && !IsCanonical(la))
        {
            RaiseException(Vector.GP, 0);
            pa = 0;
            return false;
        }

        if ((S.Cr0 & (1UL << 31)) == 0)
        {
            pa = (S.Efer & (1 << 10)) != 0 ? la : la & 0xffff_ffff;
            lastWalkGlobal = false;
            return true;
        }

        if (!PageWalker.Walk(this, la, access, forceSupervisor ? 0 : Cpl, out var m))
        {
            pa = 0;
            return false;
        }

        pa = m.Physical;
        lastWalkGlobal = m.Global;
        return true;
    }
}

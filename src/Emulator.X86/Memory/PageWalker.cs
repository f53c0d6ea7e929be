using Emulator.X86.State;

namespace Emulator.X86.Memory;

/// <summary>The result of a successful walk: the physical address and what the mapping allows.</summary>
public readonly record struct PageMapping(ulong Physical, bool Writable, bool User, bool Executable, bool Global, bool Dirty);

/// <summary>
/// The page walker (Intel SDM Vol. 3A chapter 4): 32-bit paging (with PSE 4 MiB pages), PAE
/// paging and 4-level paging (with 2 MiB and 1 GiB pages), NX, WP, U/S, global pages and the
/// accessed/dirty bits, which are set with host atomics because other vCPUs walk the same tables.
/// A failed walk records #PF with the error code of SDM Vol. 3A 4.7 and CR2.
/// </summary>
public static unsafe class PageWalker
{
    /// <summary>Physical address width the CPU reports (CPUID 0x80000008); higher entry bits are reserved.</summary>
    public const int PhysAddressBits = 40;

    private const ulong P = 1, RW = 1 << 1, US = 1 << 2, A = 1 << 5, D = 1 << 6, PS = 1 << 7, G = 1 << 8;
    private const ulong XD = 1UL << 63;
    private const ulong AddrMask = ((1UL << PhysAddressBits) - 1) & ~0xfffUL;

    // #PF error code bits (SDM Vol. 3A 4.7).
    public const uint ErrPresent = 1, ErrWrite = 2, ErrUser = 4, ErrReserved = 8, ErrFetch = 16;

    /// <summary>Walks the tables for <paramref name="la"/>. False: #PF recorded in the CPU.</summary>
    public static bool Walk(Cpu cpu, ulong la, Access access, int cpl, out PageMapping mapping)
    {
        ref var s = ref cpu.S;
        bool user = cpl == 3;
        bool write = access == Access.Write;
        bool fetch = access == Access.Fetch;
        bool nxe = (s.Efer & (1 << 11)) != 0;
        bool pae = (s.Cr4 & (1 << 5)) != 0;
        bool longMode = (s.Efer & (1 << 10)) != 0;
        var mem = cpu.Memory;

        var ctx = new WalkContext(cpu, la, write, user, fetch && (nxe || pae));
        void Fault(uint bits) => ctx.Fault(bits);

        mapping = default;
        bool allowWrite = true, allowUser = true, allowExec = true;
        ulong entryAddr;
        ulong entry;

        if (!pae)
        {
            // 32-bit paging: 10 + 10 + 12 bits, 4-byte entries.
            entryAddr = (s.Cr3 & 0xffff_f000) + ((la >> 22) & 0x3ff) * 4;
            if (!ReadEntry32(mem, entryAddr, out entry) || (entry & P) == 0)
            {
                Fault(0);
                return false;
            }

            Accumulate(entry, ref allowWrite, ref allowUser, ref allowExec, false);
            if ((entry & PS) != 0 && (s.Cr4 & (1 << 4)) != 0)
            {
                ulong phys4m = (entry & 0xffc0_0000) | ((entry >> 13) & 0xff) << 32;
                return Finish(in ctx, entryAddr, entry, 4, phys4m + (la & 0x3f_ffff), allowWrite, allowUser, allowExec, fetch, out mapping);
            }

            SetAccessed(mem, entryAddr, entry, 4);
            entryAddr = (entry & 0xffff_f000) + ((la >> 12) & 0x3ff) * 4;
            if (!ReadEntry32(mem, entryAddr, out entry) || (entry & P) == 0)
            {
                Fault(0);
                return false;
            }

            Accumulate(entry, ref allowWrite, ref allowUser, ref allowExec, false);
            return Finish(in ctx, entryAddr, entry, 4, (entry & 0xffff_f000) + (la & 0xfff), allowWrite, allowUser, allowExec, fetch, out mapping);
        }

        ulong reservedHigh = ~((1UL << PhysAddressBits) - 1) & ~XD & 0x7fff_ffff_ffff_ffffUL;
        ulong Reserved(ulong e) => (e & reservedHigh & 0x000f_ffff_ffff_ffffUL) | (!nxe ? e & XD : 0);

        ulong table;
        int level;
        if (longMode)
        {
            table = s.Cr3 & AddrMask;
            level = 4;
        }
        else
        {
            // PAE: CR3 points at 4 PDPTEs (SDM Vol. 3A 4.4.1); read here rather than cached at CR3 load.
            entryAddr = (s.Cr3 & 0xffff_ffe0) + ((la >> 30) & 3) * 8;
            if (!ReadEntry64(mem, entryAddr, out entry) || (entry & P) == 0)
            {
                Fault(0);
                return false;
            }

            if ((entry & 0x1e6) != 0 || Reserved(entry & ~XD) != 0)
            {
                Fault(ErrPresent | ErrReserved);
                return false;
            }

            table = entry & AddrMask;
            level = 2;
        }

        for (; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            entryAddr = table + ((la >> shift) & 0x1ff) * 8;
            if (!ReadEntry64(mem, entryAddr, out entry) || (entry & P) == 0)
            {
                Fault(0);
                return false;
            }

            bool large = level is 2 or 3 && (entry & PS) != 0;
            if (Reserved(entry) != 0 || (level == 4 && (entry & PS) != 0) || (level == 3 && large && !longMode))
            {
                Fault(ErrPresent | ErrReserved);
                return false;
            }

            Accumulate(entry, ref allowWrite, ref allowUser, ref allowExec, nxe);
            if (level == 1 || large)
            {
                ulong pageMask = (1UL << shift) - 1;
                ulong frame = entry & AddrMask & ~pageMask;
                if (large && ((entry & AddrMask) & pageMask & ~0x1000UL) != 0)
                {
                    Fault(ErrPresent | ErrReserved); // a large page's frame must be aligned (bit 12 is PAT)
                    return false;
                }

                return Finish(in ctx, entryAddr, entry, 8, frame + (la & pageMask), allowWrite, allowUser, allowExec, fetch, out mapping);
            }

            SetAccessed(mem, entryAddr, entry, 8);
            table = entry & AddrMask;
        }

        throw new InvalidOperationException("unreachable: the walk ends at level 1");
    }

    /// <summary>What a fault needs to know about the access.</summary>
    private readonly record struct WalkContext(Cpu Cpu, ulong La, bool Write, bool User, bool FetchBit)
    {
        public void Fault(uint bits)
        {
            uint code = bits | (Write ? ErrWrite : 0) | (User ? ErrUser : 0) | (FetchBit ? ErrFetch : 0);
            Cpu.RaiseException(Vector.PF, code, La);
            Cpu.S.Cr2 = La;
        }
    }

    private static void Accumulate(ulong entry, ref bool w, ref bool u, ref bool x, bool nxe)
    {
        w &= (entry & RW) != 0;
        u &= (entry & US) != 0;
        x &= !nxe || (entry & XD) == 0;
    }

    /// <summary>Checks permissions on the final entry and sets its accessed (and, for writes, dirty) bit.</summary>
    private static bool Finish(
        in WalkContext ctx, ulong entryAddr, ulong entry, int entrySize, ulong physical, bool w, bool u, bool x,
        bool fetch, out PageMapping mapping)
    {
        var cpu = ctx.Cpu;
        bool user = ctx.User, write = ctx.Write;
        mapping = default;
        bool wp = (cpu.S.Cr0 & (1 << 16)) != 0;
        bool denied = (user && !u) || (write && !w && (user || wp)) || (fetch && !x);
        if (denied)
        {
            ctx.Fault(ErrPresent);
            return false;
        }

        ulong set = A | (write ? D : 0);
        if ((entry & set) != set)
        {
            Or(cpu.Memory, entryAddr, set, entrySize);
            entry |= set;
        }

        bool global = (entry & G) != 0 && (cpu.S.Cr4 & (1 << 7)) != 0;
        mapping = new PageMapping(physical, user ? w : w || !wp, u, x, global, (entry & D) != 0);
        return true;
    }

    private static void SetAccessed(GuestMemory mem, ulong entryAddr, ulong entry, int size)
    {
        if ((entry & A) == 0)
        {
            Or(mem, entryAddr, A, size);
        }
    }

    private static void Or(GuestMemory mem, ulong addr, ulong bits, int size)
    {
        if (!mem.Contains(addr, (ulong)size))
        {
            return;
        }

        // Safe: addr was range-checked against guest RAM, and entries are naturally aligned.
        mem.MarkDirty(addr, (ulong)size);
        if (size == 8)
        {
            Interlocked.Or(ref *(ulong*)(mem.Ram + addr), bits);
        }
        else
        {
            Interlocked.Or(ref *(uint*)(mem.Ram + addr), (uint)bits);
        }
    }

    private static bool ReadEntry64(GuestMemory mem, ulong addr, out ulong entry)
    {
        entry = 0;
        if (!mem.Contains(addr, 8))
        {
            return false;
        }

        entry = Volatile.Read(ref *(ulong*)(mem.Ram + addr));
        return true;
    }

    private static bool ReadEntry32(GuestMemory mem, ulong addr, out ulong entry)
    {
        entry = 0;
        if (!mem.Contains(addr, 4))
        {
            return false;
        }

        entry = Volatile.Read(ref *(uint*)(mem.Ram + addr));
        return true;
    }
}

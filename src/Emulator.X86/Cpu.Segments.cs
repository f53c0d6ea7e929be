using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>A segment descriptor as read from the GDT or LDT (SDM Vol. 3A 3.4.5).</summary>
public readonly record struct Descriptor(ulong Low, ulong High)
{
    public ulong Base => ((Low >> 16) & 0xff_ffff) | ((Low >> 32) & 0xff00_0000);

    public uint RawLimit => (uint)((Low & 0xffff) | ((Low >> 32) & 0xf_0000));

    /// <summary>The byte-granular limit (G scales by 4 KiB).</summary>
    public uint Limit => Granular ? (RawLimit << 12) | 0xfff : RawLimit;

    /// <summary>Bits 8-23 of the high dword: type, S, DPL, P, limit 19:16, AVL, L, D/B, G.</summary>
    public ushort Attrs => (ushort)((Low >> 40) & 0xffff);

    public int Type => (int)(Low >> 40) & 0xf;

    /// <summary>S = 0: a system descriptor (TSS, LDT, gate).</summary>
    public bool IsSystem => ((Low >> 44) & 1) == 0;

    public int Dpl => (int)(Low >> 45) & 3;

    public bool Present => ((Low >> 47) & 1) != 0;

    public bool Granular => ((Low >> 55) & 1) != 0;

    public bool IsCode => !IsSystem && (Type & 8) != 0;

    public bool IsConforming => IsCode && (Type & 4) != 0;

    public bool IsReadable => !IsCode || (Type & 2) != 0;

    public bool IsWritableData => !IsSystem && !IsCode && (Type & 2) != 0;

    /// <summary>The base of a 16-byte system descriptor in long mode (TSS, LDT): bits 63:32 come from the second quadword.</summary>
    public ulong Base64 => Base | (High << 32);
}

/// <summary>Segment registers and descriptor tables (SDM Vol. 3A chapters 3 and 5).</summary>
public sealed unsafe partial class Cpu
{
    /// <summary>
    /// Reads the descriptor for <paramref name="selector"/> from the GDT or LDT; 16 bytes when
    /// <paramref name="wide"/> (system descriptors in long mode). False: #GP(selector) recorded.
    /// </summary>
    public bool ReadDescriptor(ushort selector, bool wide, out Descriptor d)
    {
        d = default;
        bool ldt = (selector & 4) != 0;
        ulong tableBase = ldt ? S.Ldtr.Base : S.Gdtr.Base;
        uint tableLimit = ldt ? S.Ldtr.Limit : S.Gdtr.Limit;
        ulong index = (ulong)(selector & ~7);
        if (index + (wide ? 15UL : 7UL) > tableLimit || (ldt && S.Ldtr.Selector == 0))
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        if (!ReadSupervisor(tableBase + index, 8, out ulong lo))
        {
            return false;
        }

        ulong hi = 0;
        if (wide && !ReadSupervisor(tableBase + index + 8, 8, out hi))
        {
            return false;
        }

        d = new Descriptor(lo, hi);
        return true;
    }

    /// <summary>Sets the accessed bit of a descriptor (the CPU does on load, SDM Vol. 3A 3.4.5.1).</summary>
    private void MarkAccessed(ushort selector, Descriptor d)
    {
        if ((d.Low & (1UL << 40)) == 0)
        {
            ulong tableBase = (selector & 4) != 0 ? S.Ldtr.Base : S.Gdtr.Base;
            WriteSupervisor(tableBase + (ulong)(selector & ~7) + 5, 1, (d.Low >> 40) | 1);
        }
    }

    /// <summary>Fills a segment register's hidden part from a descriptor.</summary>
    public static void LoadCache(ref SegmentReg seg, ushort selector, Descriptor d)
    {
        seg.Selector = selector;
        seg.Base = d.Base;
        seg.Limit = d.Limit;
        seg.Attrs = d.Attrs;
    }

    /// <summary>
    /// MOV/POP to DS, ES, FS, GS or SS in protected mode, with the checks of SDM Vol. 2B MOV
    /// "Protected Mode Exceptions". Real mode: base = selector * 16. False: exception recorded.
    /// </summary>
    public bool LoadDataSegment(Seg which, ushort selector)
    {
        ref var seg = ref Segment(which);
        if ((S.Cr0 & 1) == 0)
        {
            seg.Selector = selector;
            seg.Base = (ulong)selector << 4;
            return true;
        }

        int cpl = Cpl;
        if ((selector & ~3) == 0)
        {
            // A null selector: allowed for data segments; for SS only in 64-bit mode at CPL < 3.
            if (which == Seg.Ss && !(Mode.Is64 && cpl < 3 && (selector & 3) == cpl))
            {
                RaiseException(Vector.GP, 0);
                return false;
            }

            seg.Selector = selector;
            seg.Base = 0;
            seg.Limit = 0;
            seg.Attrs = which == Seg.Ss ? (ushort)((cpl << 5) | 0x93 & ~0x80) : (ushort)0;
            return true;
        }

        if (!ReadDescriptor(selector, false, out var d))
        {
            return false;
        }

        int rpl = selector & 3;
        if (which == Seg.Ss)
        {
            if (rpl != cpl || d.Dpl != cpl || !d.IsWritableData)
            {
                RaiseException(Vector.GP, (uint)(selector & ~3));
                return false;
            }

            if (!d.Present)
            {
                RaiseException(Vector.SS, (uint)(selector & ~3));
                return false;
            }
        }
        else
        {
            bool dataOrReadableCode = !d.IsSystem && d.IsReadable;
            bool privOk = d.IsConforming || (d.Dpl >= cpl && d.Dpl >= rpl);
            if (!dataOrReadableCode || !privOk)
            {
                RaiseException(Vector.GP, (uint)(selector & ~3));
                return false;
            }

            if (!d.Present)
            {
                RaiseException(Vector.NP, (uint)(selector & ~3));
                return false;
            }
        }

        MarkAccessed(selector, d);
        LoadCache(ref seg, selector, d);
        return true;
    }

    /// <summary>Loads CS for a far transfer to privilege <paramref name="cpl"/> (checks done by the caller).</summary>
    public void LoadCodeSegment(ushort selector, Descriptor d, int cpl)
    {
        LoadCache(ref S.Cs, (ushort)((selector & ~3) | cpl), d);
        S.Cs.Attrs = (ushort)((S.Cs.Attrs & ~0x60) | (cpl << 5));
        OnPrivilegeChange();
    }

    /// <summary>A read that is a supervisor access whatever the CPL (descriptor tables, TSS; SDM Vol. 3A 4.6.1).</summary>
    public bool ReadSupervisor(ulong la, int size, out ulong value)
    {
        var saved = Tlb;
        forceSupervisor = true;
        Tlb = supervisorTlb;
        bool ok = Read(la, size, out value);
        forceSupervisor = false;
        Tlb = saved;
        return ok;
    }

    /// <summary>A write that is a supervisor access whatever the CPL.</summary>
    public bool WriteSupervisor(ulong la, int size, ulong value)
    {
        var saved = Tlb;
        forceSupervisor = true;
        Tlb = supervisorTlb;
        bool ok = Write(la, size, value);
        forceSupervisor = false;
        Tlb = saved;
        return ok;
    }

    /// <summary>Set during implicit supervisor accesses: the page walk uses CPL 0.</summary>
    private bool forceSupervisor;
}

/// <summary>VERR, VERW, LAR and LSL: segment checks a program may make without loading (SDM Vol. 2A/2B).</summary>
public sealed unsafe partial class Cpu
{
    /// <summary>
    /// The descriptor of <paramref name="selector"/> if the current privilege may see it: not null,
    /// inside the table, and (unless a conforming code segment) DPL >= max(CPL, RPL). Reading
    /// the table may fault (#PF), which is recorded; an invisible segment just returns false.
    /// </summary>
    public bool TryVisibleDescriptor(ushort selector, out Descriptor d, out bool faulted)
    {
        d = default;
        faulted = false;
        if ((selector & ~3) == 0)
        {
            return false;
        }

        bool ldt = (selector & 4) != 0;
        uint limit = ldt ? S.Ldtr.Limit : S.Gdtr.Limit;
        if ((ulong)(selector & ~7) + 7 > limit || (ldt && S.Ldtr.Selector == 0))
        {
            return false;
        }

        ulong tableBase = ldt ? S.Ldtr.Base : S.Gdtr.Base;
        if (!ReadSupervisor(tableBase + (ulong)(selector & ~7), 8, out ulong lo))
        {
            faulted = true;
            return false;
        }

        d = new Descriptor(lo, 0);
        int cpl = Cpl, rpl = selector & 3;
        return d.IsConforming || (d.Dpl >= cpl && d.Dpl >= rpl);
    }
}

using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>Control registers, LDTR/TR and the I/O permission check (SDM Vol. 3A 2.5, 7.2, Vol. 1 19.5).</summary>
public sealed unsafe partial class Cpu
{
    private const ulong Cr0Pe = 1, Cr0Et = 1 << 4, Cr0Nw = 1 << 29, Cr0Cd = 1 << 30, Cr0Pg = 1UL << 31;
    private const ulong Cr4Pse = 1 << 4, Cr4Pae = 1 << 5, Cr4Pge = 1 << 7;

    /// <summary>CR4 bits this CPU implements: VME is not; DE, PSE, TSD, PAE, MCE, PGE, PCE, OSFXSR, OSXMMEXCPT are.</summary>
    private const ulong Cr4Supported = 0x6fe;

    /// <summary>RFLAGS.IOPL.</summary>
    public int Iopl => (int)(S.Rflags >> 12) & 3;

    /// <summary>MOV to CR0/2/3/4/8 with the checks of SDM Vol. 2B MOV (Control Registers). False: #GP(0) recorded.</summary>
    public bool WriteControlRegister(int n, ulong value)
    {
        ref var s = ref S;
        switch (n)
        {
            case 0:
            {
                if ((value >> 32) != 0 || ((value & Cr0Pg) != 0 && (value & Cr0Pe) == 0) || ((value & Cr0Nw) != 0 && (value & Cr0Cd) == 0))
                {
                    return Gp();
                }

                bool lme = (s.Efer & (1 << 8)) != 0;
                bool enablingPaging = (value & Cr0Pg) != 0 && (s.Cr0 & Cr0Pg) == 0;
                if (enablingPaging && lme && (s.Cr4 & Cr4Pae) == 0)
                {
                    return Gp();
                }

                s.Cr0 = value | Cr0Et;

                // EFER.LMA follows CR0.PG while EFER.LME is set (SDM Vol. 3A 10.8.5).
                if ((value & Cr0Pg) != 0 && lme)
                {
                    s.Efer |= 1 << 10;
                }
                else if ((value & Cr0Pg) == 0)
                {
                    s.Efer &= ~(1UL << 10);
                }

                FlushTlb();
                OnPrivilegeChange();
                return true;
            }

            case 2:
                s.Cr2 = value;
                return true;
            case 3:
                if ((s.Efer & (1 << 10)) != 0 && (value >> 52) != 0)
                {
                    return Gp();
                }

                s.Cr3 = value;
                FlushTlbNonGlobal();
                return true;
            case 4:
            {
                if ((value & ~Cr4Supported) != 0 || ((s.Efer & (1 << 10)) != 0 && (value & Cr4Pae) == 0))
                {
                    return Gp();
                }

                ulong changed = s.Cr4 ^ value;
                s.Cr4 = value;
                if ((changed & (Cr4Pse | Cr4Pae | Cr4Pge)) != 0)
                {
                    FlushTlb();
                }

                return true;
            }

            case 8:
                if ((value & ~0xfUL) != 0)
                {
                    return Gp();
                }

                s.Cr8 = value;
                return true;
            default:
                RaiseException(Vector.UD);
                return false;
        }
    }

    /// <summary>LLDT: a null selector disables the LDT; otherwise an LDT descriptor (type 2) from the GDT.</summary>
    public bool LoadLdtr(ushort selector)
    {
        if ((selector & ~3) == 0)
        {
            S.Ldtr = default;
            return true;
        }

        if ((selector & 4) != 0)
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        bool wide = (S.Efer & (1 << 10)) != 0;
        if (!ReadDescriptor(selector, wide, out var d))
        {
            return false;
        }

        if (!d.IsSystem || d.Type != 2)
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        if (!d.Present)
        {
            RaiseException(Vector.NP, (uint)(selector & ~3));
            return false;
        }

        LoadCache(ref S.Ldtr, selector, d);
        S.Ldtr.Base = wide ? d.Base64 : d.Base;
        return true;
    }

    /// <summary>LTR: an available TSS (type 9; type 1 for 16-bit) from the GDT, then marked busy.</summary>
    public bool LoadTaskRegister(ushort selector)
    {
        if ((selector & ~3) == 0 || (selector & 4) != 0)
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        bool wide = (S.Efer & (1 << 10)) != 0;
        if (!ReadDescriptor(selector, wide, out var d))
        {
            return false;
        }

        if (!d.IsSystem || d.Type is not (9 or 1))
        {
            RaiseException(Vector.GP, (uint)(selector & ~3));
            return false;
        }

        if (!d.Present)
        {
            RaiseException(Vector.NP, (uint)(selector & ~3));
            return false;
        }

        LoadCache(ref S.Tr, selector, d);
        S.Tr.Base = wide ? d.Base64 : d.Base;

        // Mark busy: type 9 -> 11 (bit 41 of the descriptor).
        WriteSupervisor(S.Gdtr.Base + (ulong)(selector & ~7) + 5, 1, ((d.Low >> 40) & 0xff) | 2);
        S.Tr.Attrs |= 2;
        return true;
    }

    /// <summary>
    /// May the current code access <paramref name="size"/> ports from <paramref name="port"/>?
    /// Yes in real mode or when CPL &lt;= IOPL; otherwise the TSS I/O bitmap decides (SDM Vol. 1
    /// 19.5.2). False: #GP(0) recorded.
    /// </summary>
    public bool CheckIoPermission(ushort port, int size)
    {
        if ((S.Cr0 & 1) == 0 || Cpl <= Iopl)
        {
            return true;
        }

        ulong tss = S.Tr.Base;
        if (S.Tr.Limit < 103 || !ReadSupervisor(tss + 102, 2, out ulong mapBase))
        {
            return Gp();
        }

        ulong byteOffset = mapBase + (ulong)(port >> 3);
        if (byteOffset + 1 > S.Tr.Limit || !ReadSupervisor(tss + byteOffset, 2, out ulong bits))
        {
            return Gp();
        }

        ulong mask = ((1UL << size) - 1) << (port & 7);
        return (bits & mask) == 0 || Gp();
    }
}

using Emulator.Ir;
using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;
using static Emulator.X86.Helpers.X87State;

namespace Emulator.X86.Helpers;

/// <summary>
/// x87 control: FLDCW, stack manipulation (FXCH FFREE FFREEP FINCSTP FDECSTP FCMOVcc), the
/// pending-exception check of FWAIT, and the environment and state images of FSTENV/FNSTENV,
/// FLDENV, FSAVE/FNSAVE and FRSTOR (SDM Vol. 1 8.1.10, Figures 8-9 to 8-12).
/// </summary>
public static unsafe class X87Control
{
    public const int Fxch = 0, Ffree = 1, Ffreep = 2, Fincstp = 3, Fdecstp = 4, Fcmov = 5;

    // Flags of x87_stenv / x87_ldenv.
    public const int Env16 = 1, EnvWithRegisters = 2, EnvRealMode = 4;

    /// <summary>x87_ldcw(value): loads FCW and recomputes the error summary for the new masks.</summary>
    public static readonly HelperInfo LoadControlWord = HelperTable.Define("x87_ldcw", 1, Waiting, &LoadControlWordImpl);

    /// <summary>x87_stack(op, i, cond): FXCH, FFREE, FFREEP, FINCSTP, FDECSTP, or FCMOV when cond != 0.</summary>
    public static readonly HelperInfo Stack = HelperTable.Define("x87_stack", 3, Waiting, &StackImpl);

    /// <summary>x87_wait(): FWAIT, and the wait of FSTSW FSTCW FCLEX FINIT FSTENV FSAVE: #MF when an unmasked exception is pending.</summary>
    public static readonly HelperInfo Wait = HelperTable.Define("x87_wait", 0, Waiting, &WaitImpl);

    /// <summary>x87_available(): #NM when CR0.EM or CR0.TS is set, for the non-waiting instructions lowered to IR (FNSTSW FNSTCW FNCLEX FNINIT).</summary>
    public static readonly HelperInfo Available = HelperTable.Define("x87_available", 0, OpFlags.ReadsState | OpFlags.WritesState | OpFlags.MayFault, &AvailableImpl);

    /// <summary>x87_stenv(addr, flags): FNSTENV, or FNSAVE with EnvWithRegisters. May fault.</summary>
    public static readonly HelperInfo StoreEnv = HelperTable.Define("x87_stenv", 2, HelperTable.Effects, &StoreEnvImpl);

    /// <summary>x87_ldenv(addr, flags): FLDENV, or FRSTOR with EnvWithRegisters. May fault.</summary>
    public static readonly HelperInfo LoadEnv = HelperTable.Define("x87_ldenv", 2, HelperTable.Effects, &LoadEnvImpl);

    /// <summary>FNINIT's state (SDM Vol. 2A FINIT/FNINIT): FCW 037FH, FSW 0, all registers empty, pointers 0.</summary>
    internal static void Init(Cpu cpu)
    {
        cpu.S.Fcw = 0x037F;
        cpu.S.Fsw = 0;
        cpu.S.Ftw = 0xFFFF;
        cpu.S.Fop = 0;
        cpu.S.Fip = 0;
        cpu.S.Fdp = 0;
    }

    /// <summary>Sets or clears ES and B as the pending flags and the masks now say.</summary>
    internal static void UpdateSummary(Cpu cpu)
    {
        if ((cpu.S.Fsw & ~cpu.S.Fcw & 0x3F) != 0)
        {
            cpu.S.Fsw |= ErrorSummary | Busy;
        }
        else
        {
            cpu.S.Fsw &= unchecked((ushort)~(ErrorSummary | Busy));
        }
    }

    /// <summary>The tag word with every non-empty register's tag computed from its contents.</summary>
    internal static ushort RecomputeTags(Cpu cpu, ushort tags)
    {
        for (int p = 0; p < 8; p++)
        {
            if (((tags >> (2 * p)) & 3) != 3)
            {
                tags = (ushort)((tags & ~(3 << (2 * p))) | (Tag(Reg(cpu, p)) << (2 * p)));
            }
        }

        return tags;
    }

    private static ulong LoadControlWordImpl(Cpu cpu, ulong value, ulong unused1, ulong unused2, ulong unused3)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        // Bits 6 and 13-15 are reserved; bit 6 reads as 1 on current processors.
        cpu.S.Fcw = (ushort)((value & 0x1F3F) | 0x0040);
        UpdateSummary(cpu);
        return 0;
    }

    private static ulong StackImpl(Cpu cpu, ulong op, ulong iBits, ulong cond, ulong unused)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        int i = (int)iBits & 7;
        switch ((int)op)
        {
            case Fxch:
            {
                if (IsEmpty(cpu, 0) || IsEmpty(cpu, i))
                {
                    if (!Underflow(cpu))
                    {
                        return 0;
                    }

                    // Masked: an empty operand takes part as the indefinite.
                    if (IsEmpty(cpu, 0))
                    {
                        SetSt(cpu, 0, Indefinite);
                    }

                    if (IsEmpty(cpu, i))
                    {
                        SetSt(cpu, i, Indefinite);
                    }
                }
                else
                {
                    cpu.S.Fsw &= unchecked((ushort)~C1);
                }

                var a = St(cpu, 0);
                var b = St(cpu, i);
                SetSt(cpu, 0, b);
                SetSt(cpu, i, a);
                return 0;
            }

            case Ffree:
            case Ffreep:
                SetTag(cpu, Phys(cpu, i), 3);
                if (op == Ffreep)
                {
                    SetTop(cpu, Top(cpu) + 1);
                }

                return 0;
            case Fincstp:
            case Fdecstp:
                SetTop(cpu, Top(cpu) + (op == Fincstp ? 1 : -1));
                cpu.S.Fsw &= unchecked((ushort)~C1);
                return 0;
            default:
                if (IsEmpty(cpu, 0) || IsEmpty(cpu, i))
                {
                    if (Underflow(cpu))
                    {
                        SetSt(cpu, 0, Indefinite);
                    }

                    return 0;
                }

                cpu.S.Fsw &= unchecked((ushort)~C1);
                if (cond != 0)
                {
                    var v = St(cpu, i);
                    SetSt(cpu, 0, v);
                }

                return 0;
        }
    }

    private static ulong WaitImpl(Cpu cpu, ulong unused0, ulong unused1, ulong unused2, ulong unused3)
    {
        WaitFault(cpu);
        return 0;
    }

    private static ulong AvailableImpl(Cpu cpu, ulong unused0, ulong unused1, ulong unused2, ulong unused3)
    {
        Unavailable(cpu);
        return 0;
    }

    private static ulong StoreEnvImpl(Cpu cpu, ulong addr, ulong flags, ulong unused1, ulong unused2)
    {
        if (Unavailable(cpu))
        {
            return 0;
        }

        bool small = (flags & Env16) != 0;
        bool real = (flags & EnvRealMode) != 0;
        ref var s = ref cpu.S;
        int w = small ? 2 : 4;

        // In the 32-bit layouts the unused upper halves of the FCW, FSW, FTW (and FDS) dwords read as 1s, as hardware stores them.
        ulong upper = small ? 0 : 0xFFFF_0000UL;

        // The whole image is checked first: when any page of it faults, nothing is written.
        if (!cpu.ProbeWrite(addr, (7 * w) + ((flags & EnvWithRegisters) != 0 ? 80 : 0)))
        {
            return 0;
        }

        bool ok = cpu.Write(addr, w, s.Fcw | upper)
            && cpu.Write(addr + (ulong)w, w, s.Fsw | upper)
            && cpu.Write(addr + (ulong)(2 * w), w, s.Ftw | upper);
        if (ok && real)
        {
            // Real-mode layout: 20-bit (or 32-bit) linear pointers split across two fields, FOP in the second.
            ok = cpu.Write(addr + (ulong)(3 * w), w, s.Fip & 0xFFFF)
                && cpu.Write(addr + (ulong)(4 * w), w, ((s.Fip >> 16) << 12) | (s.Fop & 0x7FFUL))
                && cpu.Write(addr + (ulong)(5 * w), w, s.Fdp & 0xFFFF)
                && cpu.Write(addr + (ulong)(6 * w), w, (s.Fdp >> 16) << 12);
        }
        else if (ok)
        {
            // Protected-mode layout; FCS and FDS read as 0 (deprecated, as on current processors).
            ok = cpu.Write(addr + (ulong)(3 * w), w, s.Fip)
                && cpu.Write(addr + (ulong)(4 * w), w, small ? 0 : (ulong)(s.Fop & 0x7FF) << 16)
                && cpu.Write(addr + (ulong)(5 * w), w, s.Fdp)
                && cpu.Write(addr + (ulong)(6 * w), w, upper);
        }

        if (ok && (flags & EnvWithRegisters) != 0)
        {
            ulong regs = addr + (ulong)(7 * w);
            for (int i = 0; i < 8 && ok; i++)
            {
                ref var r = ref St(cpu, i);
                ok = cpu.Write(regs + (ulong)(10 * i), 8, r.Mantissa) && cpu.Write(regs + (ulong)(10 * i) + 8, 2, r.SignExponent);
            }
        }

        if (!ok)
        {
            return 0;
        }

        if ((flags & EnvWithRegisters) != 0)
        {
            Init(cpu);
        }
        else
        {
            // FNSTENV masks all floating-point exceptions after saving (SDM Vol. 2A FSTENV).
            s.Fcw |= 0x3F;
        }

        return 0;
    }

    private static ulong LoadEnvImpl(Cpu cpu, ulong addr, ulong flags, ulong unused1, ulong unused2)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        bool small = (flags & Env16) != 0;
        bool real = (flags & EnvRealMode) != 0;
        int w = small ? 2 : 4;
        Span<ulong> f = stackalloc ulong[7];
        for (int k = 0; k < 7; k++)
        {
            if (!cpu.Read(addr + (ulong)(k * w), w, out f[k]))
            {
                return 0;
            }
        }

        Span<Float80> regs = stackalloc Float80[8];
        bool withRegs = (flags & EnvWithRegisters) != 0;
        if (withRegs)
        {
            ulong at = addr + (ulong)(7 * w);
            for (int i = 0; i < 8; i++)
            {
                if (!cpu.Read(at + (ulong)(10 * i), 8, out ulong m) || !cpu.Read(at + (ulong)(10 * i) + 8, 2, out ulong se))
                {
                    return 0;
                }

                regs[i] = Make(m, (int)se);
            }
        }

        ref var s = ref cpu.S;
        s.Fcw = (ushort)((f[0] & 0x1F3F) | 0x0040);
        s.Fsw = (ushort)f[1];
        if (real)
        {
            s.Fip = (f[3] & 0xFFFF) | ((f[4] >> 12) << 16);
            s.Fop = (ushort)(f[4] & 0x7FF);
            s.Fdp = (f[5] & 0xFFFF) | ((f[6] >> 12) << 16);
        }
        else
        {
            s.Fip = f[3];
            s.Fop = small ? (ushort)0 : (ushort)((f[4] >> 16) & 0x7FF);
            s.Fdp = f[5];
        }

        if (withRegs)
        {
            for (int i = 0; i < 8; i++)
            {
                St(cpu, i) = regs[i];
            }
        }

        // Non-empty registers are re-tagged from their contents (SDM Vol. 1 8.1.7).
        s.Ftw = RecomputeTags(cpu, (ushort)f[2]);
        UpdateSummary(cpu);
        return 0;
    }
}

using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>Saving and restoring a vCPU for snapshots (see <see cref="CpuSavedState"/>).</summary>
public sealed unsafe partial class Cpu
{
    /// <summary>An application processor waiting for its start-up IPI runs nothing (SDM Vol. 3A 9.4.4).</summary>
    public bool WaitingForSipi { get; set; }

    /// <summary>The vCPU's state; call between blocks (on its thread, or while it is paused).</summary>
    public CpuSavedState SaveState()
    {
        ref var s = ref S;
        var gpr = new ulong[16];
        var xmm = new ulong[32];
        var dr = new ulong[8];
        for (int i = 0; i < 16; i++)
        {
            gpr[i] = s.Gpr[i];
        }

        for (int i = 0; i < 32; i++)
        {
            xmm[i] = s.Xmm[i];
        }

        for (int i = 0; i < 8; i++)
        {
            dr[i] = s.Dr[i];
        }

        return new CpuSavedState
        {
            Gpr = gpr,
            Rip = s.Rip,
            Rflags = Rflags,
            Es = Save(s.Es),
            Cs = Save(s.Cs),
            Ss = Save(s.Ss),
            Ds = Save(s.Ds),
            Fs = Save(s.Fs),
            Gs = Save(s.Gs),
            Ldtr = Save(s.Ldtr),
            Tr = Save(s.Tr),
            GdtrBase = s.Gdtr.Base,
            GdtrLimit = s.Gdtr.Limit,
            IdtrBase = s.Idtr.Base,
            IdtrLimit = s.Idtr.Limit,
            Cr0 = s.Cr0,
            Cr2 = s.Cr2,
            Cr3 = s.Cr3,
            Cr4 = s.Cr4,
            Cr8 = s.Cr8,
            Efer = s.Efer,
            Dr = dr,
            Star = s.Star,
            Lstar = s.Lstar,
            Cstar = s.Cstar,
            Sfmask = s.Sfmask,
            KernelGsBase = s.KernelGsBase,
            SysenterCs = s.SysenterCs,
            SysenterEsp = s.SysenterEsp,
            SysenterEip = s.SysenterEip,
            TscAux = s.TscAux,
            Pat = s.Pat,
            ApicBase = s.ApicBase,
            MiscEnable = s.MiscEnable,
            TscOffset = tscOffset,
            Mtrrs = new Dictionary<uint, ulong>(mtrrs),
            Xmm = xmm,
            Mxcsr = s.Mxcsr,
            MxcsrMask = s.MxcsrMask,
            Fpr = [Save(s.Fpr0), Save(s.Fpr1), Save(s.Fpr2), Save(s.Fpr3), Save(s.Fpr4), Save(s.Fpr5), Save(s.Fpr6), Save(s.Fpr7)],
            Fcw = s.Fcw,
            Fsw = s.Fsw,
            Ftw = s.Ftw,
            Fop = s.Fop,
            Fip = s.Fip,
            Fdp = s.Fdp,
            InterruptShadow = s.InterruptShadow,
            Halted = s.Halted != 0,
            NmiBlocked = NmiBlocked,
            NmiPending = NmiPending,
            WaitingForSipi = WaitingForSipi,
            InstructionCount = s.InstructionCount,
            Features = Features,
        };
    }

    /// <summary>
    /// Replaces the vCPU's state with a saved one (on its thread, or before it runs). Throws
    /// <see cref="ArgumentException"/> for a version this build does not read or lists of the
    /// wrong length; the vCPU is unchanged then.
    /// </summary>
    public void RestoreState(CpuSavedState saved)
    {
        if (saved.Version is < 1 or > CpuSavedState.CurrentVersion)
        {
            throw new ArgumentException($"CPU state version {saved.Version} is not supported (this build reads 1 to {CpuSavedState.CurrentVersion})", nameof(saved));
        }

        if (saved.Gpr.Count != 16 || saved.Xmm.Count != 32 || saved.Dr.Count != 8 || saved.Fpr.Count != 8)
        {
            throw new ArgumentException("CPU state: register lists have the wrong length (16 GPRs, 32 XMM quadwords, 8 DRs, 8 x87 registers)", nameof(saved));
        }

        Reset();
        ref var s = ref S;
        for (int i = 0; i < 16; i++)
        {
            s.Gpr[i] = saved.Gpr[i];
        }

        for (int i = 0; i < 32; i++)
        {
            s.Xmm[i] = saved.Xmm[i];
        }

        for (int i = 0; i < 8; i++)
        {
            s.Dr[i] = saved.Dr[i];
        }

        s.Rip = saved.Rip;
        Rflags = saved.Rflags;
        Restore(ref s.Es, saved.Es);
        Restore(ref s.Cs, saved.Cs);
        Restore(ref s.Ss, saved.Ss);
        Restore(ref s.Ds, saved.Ds);
        Restore(ref s.Fs, saved.Fs);
        Restore(ref s.Gs, saved.Gs);
        Restore(ref s.Ldtr, saved.Ldtr);
        Restore(ref s.Tr, saved.Tr);
        s.Gdtr.Base = saved.GdtrBase;
        s.Gdtr.Limit = saved.GdtrLimit;
        s.Idtr.Base = saved.IdtrBase;
        s.Idtr.Limit = saved.IdtrLimit;
        s.Cr0 = saved.Cr0;
        s.Cr2 = saved.Cr2;
        s.Cr3 = saved.Cr3;
        s.Cr4 = saved.Cr4;
        s.Cr8 = saved.Cr8;
        s.Efer = saved.Efer;
        s.Star = saved.Star;
        s.Lstar = saved.Lstar;
        s.Cstar = saved.Cstar;
        s.Sfmask = saved.Sfmask;
        s.KernelGsBase = saved.KernelGsBase;
        s.SysenterCs = saved.SysenterCs;
        s.SysenterEsp = saved.SysenterEsp;
        s.SysenterEip = saved.SysenterEip;
        s.TscAux = saved.TscAux;
        s.Pat = saved.Pat;
        s.ApicBase = saved.ApicBase;
        s.MiscEnable = saved.MiscEnable;
        tscOffset = saved.TscOffset;
        mtrrs.Clear();
        foreach (var (index, value) in saved.Mtrrs)
        {
            mtrrs[index] = value;
        }

        s.Mxcsr = saved.Mxcsr;
        s.MxcsrMask = saved.MxcsrMask;
        Restore(ref s.Fpr0, saved.Fpr[0]);
        Restore(ref s.Fpr1, saved.Fpr[1]);
        Restore(ref s.Fpr2, saved.Fpr[2]);
        Restore(ref s.Fpr3, saved.Fpr[3]);
        Restore(ref s.Fpr4, saved.Fpr[4]);
        Restore(ref s.Fpr5, saved.Fpr[5]);
        Restore(ref s.Fpr6, saved.Fpr[6]);
        Restore(ref s.Fpr7, saved.Fpr[7]);
        s.Fcw = saved.Fcw;
        s.Fsw = saved.Fsw;
        s.Ftw = saved.Ftw;
        s.Fop = saved.Fop;
        s.Fip = saved.Fip;
        s.Fdp = saved.Fdp;
        s.InterruptShadow = saved.InterruptShadow;
        s.Halted = saved.Halted ? 1 : 0;
        s.InstructionCount = saved.InstructionCount;
        NmiBlocked = saved.NmiBlocked;
        NmiPending = saved.NmiPending;
        WaitingForSipi = saved.WaitingForSipi;
        Features = saved.Features;

        // Paging and privilege follow from the registers just set.
        FlushTlb();
        OnPrivilegeChange();
    }

    private static SegmentSavedState Save(in SegmentReg r) => new(r.Selector, r.Base, r.Limit, r.Attrs);

    private static Float80SavedState Save(in Float80 r) => new(r.Mantissa, r.SignExponent);

    private static void Restore(ref SegmentReg r, SegmentSavedState saved)
    {
        r.Selector = saved.Selector;
        r.Base = saved.Base;
        r.Limit = saved.Limit;
        r.Attrs = saved.Attrs;
    }

    private static void Restore(ref Float80 r, Float80SavedState saved)
    {
        r.Mantissa = saved.Mantissa;
        r.SignExponent = saved.SignExponent;
    }
}

using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>
/// The model-specific registers Linux touches (SDM Vol. 4). Anything else raises #GP(0), which
/// the kernel's rdmsr_safe/wrmsr_safe expect for MSRs a CPU does not have.
/// </summary>
public sealed unsafe partial class Cpu
{
    public const uint MsrArchCapabilities = 0x10a;

    /// <summary>
    /// IA32_ARCH_CAPABILITIES (SDM Vol. 4 Table 2-2): an emulator does not speculate, so it is not
    /// affected by Meltdown (RDCL_NO), L1TF, SSB, MDS, TAA, the MMIO stale-data flaws, GDS, RFDS
    /// or BHI, and Linux need not apply those mitigations (page-table isolation, VERW buffer clearing).
    /// </summary>
    public const ulong ArchCapabilities =
        (1UL << 0) | (1UL << 3) | (1UL << 4) | (1UL << 5) | (1UL << 6) | (1UL << 8) | (1UL << 13) | (1UL << 14) | (1UL << 15)
        | (1UL << 20) | (1UL << 26) | (1UL << 27);

    public const uint MsrTsc = 0x10, MsrTscAdjust = 0x3b, MsrBiosSignId = 0x8b, MsrApicBase = 0x1b, MsrMtrrCap = 0xfe, MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175,
        MsrSysenterEip = 0x176, MsrMiscEnable = 0x1a0, MsrPat = 0x277, MsrMtrrDefType = 0x2ff, MsrEfer = 0xc0000080,
        MsrStar = 0xc0000081, MsrLstar = 0xc0000082, MsrCstar = 0xc0000083, MsrSfmask = 0xc0000084, MsrFsBase = 0xc0000100,
        MsrGsBase = 0xc0000101, MsrKernelGsBase = 0xc0000102, MsrTscAux = 0xc0000103;

    /// <summary>Variable and fixed MTRRs: stored, not enforced (guest RAM has one memory type).</summary>
    private readonly Dictionary<uint, ulong> mtrrs = [];

    /// <summary>
    /// Offset added to the machine clock so WRMSR to the TSC works (per vCPU). It is also
    /// IA32_TSC_ADJUST (0x3B): a write to the TSC adds its change to TSC_ADJUST and a write to
    /// TSC_ADJUST adds its change to the TSC (SDM Vol. 3B 17.17.3), and both start at 0, so the
    /// two are always equal.
    /// </summary>
    private long tscOffset;

    /// <summary>Notified when the guest writes IA32_APIC_BASE (the local APIC moves or is disabled).</summary>
    public Action<ulong>? ApicBaseChanged { get; set; }

    public ulong Tsc => (ulong)((long)Clock.Tsc + tscOffset);

    /// <summary>Device-owned MSRs (the local APIC's), asked before the core's own.</summary>
    public IMsrExtension? MsrExtension { get; set; }

    /// <summary>RDMSR. False: #GP(0) recorded.</summary>
    public bool ReadMsr(uint index, out ulong value)
    {
        if (MsrExtension?.TryRead(index, out value) == true)
        {
            return true;
        }

        ref var s = ref S;
        value = index switch
        {
            MsrTsc => Tsc,
            MsrTscAdjust => (ulong)tscOffset,
            MsrBiosSignId => 0, // no microcode update loaded
            MsrArchCapabilities => ArchCapabilities,
            MsrApicBase => s.ApicBase,
            MsrMtrrCap => 0x508, // 8 variable ranges, fixed ranges, write-combining (SDM Vol. 3A 12.11.1)
            MsrSysenterCs => s.SysenterCs,
            MsrSysenterEsp => s.SysenterEsp,
            MsrSysenterEip => s.SysenterEip,
            MsrMiscEnable => s.MiscEnable,
            MsrPat => s.Pat,
            MsrEfer => s.Efer,
            MsrStar => s.Star,
            MsrLstar => s.Lstar,
            MsrCstar => s.Cstar,
            MsrSfmask => s.Sfmask,
            MsrFsBase => s.Fs.Base,
            MsrGsBase => s.Gs.Base,
            MsrKernelGsBase => s.KernelGsBase,
            MsrTscAux => s.TscAux,
            _ when IsMtrr(index) => mtrrs.GetValueOrDefault(index),
            _ => ulong.MaxValue,
        };
        if (value == ulong.MaxValue && !IsKnownMsr(index))
        {
            RaiseException(Vector.GP, 0);
            return false;
        }

        return true;
    }

    /// <summary>WRMSR. False: #GP(0) recorded (unknown MSR, reserved bits, non-canonical base).</summary>
    public bool WriteMsr(uint index, ulong value)
    {
        if (MsrExtension?.TryWrite(index, value) == true)
        {
            return S.ExceptionVector < 0;
        }

        ref var s = ref S;
        switch (index)
        {
            case MsrTsc:
                tscOffset = (long)value - (long)Clock.Tsc;
                return true;
            case MsrTscAdjust:
                tscOffset = (long)value;
                return true;
            case MsrBiosSignId:
                return true; // writing 0 asks the CPU to report the microcode revision; there is none
            case MsrApicBase:
                s.ApicBase = value;
                ApicBaseChanged?.Invoke(value);
                return true;
            case MsrSysenterCs: s.SysenterCs = value & 0xffff; return true;
            case MsrSysenterEsp: return Canonical(value) && Set(ref s.SysenterEsp, value);
            case MsrSysenterEip: return Canonical(value) && Set(ref s.SysenterEip, value);
            case MsrMiscEnable: s.MiscEnable = value; return true;
            case MsrPat:
                // Each of the 8 entries must be a valid memory type: 0, 1, 4, 5, 6 or 7.
                for (int i = 0; i < 8; i++)
                {
                    ulong t = (value >> (8 * i)) & 0xff;
                    if (t is 2 or 3 or > 7)
                    {
                        return Gp();
                    }
                }

                s.Pat = value;
                return true;
            case MsrEfer:
            {
                // SCE (0), LME (8), LMA (10, read-only), NXE (11). LME cannot change while paging is on.
                if ((value & ~0xd01UL) != 0)
                {
                    return Gp();
                }

                bool paging = (s.Cr0 & (1UL << 31)) != 0;
                if (paging && ((value ^ s.Efer) & (1 << 8)) != 0)
                {
                    return Gp();
                }

                s.Efer = (value & ~(1UL << 10)) | (s.Efer & (1UL << 10));
                FlushTlb();
                return true;
            }

            case MsrStar: s.Star = value; return true;
            case MsrLstar: return Canonical(value) && Set(ref s.Lstar, value);
            case MsrCstar: return Canonical(value) && Set(ref s.Cstar, value);
            case MsrSfmask: s.Sfmask = value & 0xffff_ffff; return true;
            case MsrFsBase: return Canonical(value) && Set(ref s.Fs.Base, value);
            case MsrGsBase: return Canonical(value) && Set(ref s.Gs.Base, value);
            case MsrKernelGsBase: return Canonical(value) && Set(ref s.KernelGsBase, value);
            case MsrTscAux: s.TscAux = value & 0xffff_ffff; return true;
            default:
                if (IsMtrr(index))
                {
                    mtrrs[index] = value;
                    return true;
                }

                return Gp();
        }
    }

    private static bool Set(ref ulong field, ulong value)
    {
        field = value;
        return true;
    }

    private bool Canonical(ulong v) => IsCanonical(v) || Gp();

    /// <summary>48-bit canonical: bits 63:47 all equal.</summary>
    public static bool IsCanonical(ulong v) => (ulong)((long)(v << 16) >> 16) == v;

    private bool Gp()
    {
        RaiseException(Vector.GP, 0);
        return false;
    }

    private static bool IsMtrr(uint index) =>
        index is MsrMtrrDefType or 0x250 or 0x258 or 0x259 or (>= 0x268 and <= 0x26f) or (>= 0x200 and <= 0x20f);

    private static bool IsKnownMsr(uint index) => index is MsrTsc or MsrTscAdjust or MsrBiosSignId or MsrArchCapabilities or MsrApicBase or MsrMtrrCap or MsrSysenterCs or MsrSysenterEsp
        or MsrSysenterEip or MsrMiscEnable or MsrPat or MsrEfer or MsrStar or MsrLstar or MsrCstar or MsrSfmask or MsrFsBase
        or MsrGsBase or MsrKernelGsBase or MsrTscAux || IsMtrr(index);
}

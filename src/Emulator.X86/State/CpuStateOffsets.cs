using System.Runtime.InteropServices;

namespace Emulator.X86.State;

/// <summary>Byte offsets of <see cref="CpuState"/> fields, for IR state ops. CpuStateLayoutTests pins them.</summary>
public static unsafe class CpuStateOffsets
{
    private static int Of(string field) => (int)Marshal.OffsetOf<CpuState>(field);

    public static readonly int Gpr0 = Of(nameof(CpuState.Gpr));
    public static readonly int Rip = Of(nameof(CpuState.Rip));
    public static readonly int Rflags = Of(nameof(CpuState.Rflags));
    public static readonly int CcDst = Of(nameof(CpuState.CcDst));
    public static readonly int CcSrc1 = Of(nameof(CpuState.CcSrc1));
    public static readonly int CcSrc2 = Of(nameof(CpuState.CcSrc2));
    public static readonly int CcOp = Of(nameof(CpuState.CcOp));
    public static readonly int Es = Of(nameof(CpuState.Es));
    public static readonly int Cs = Of(nameof(CpuState.Cs));
    public static readonly int Ss = Of(nameof(CpuState.Ss));
    public static readonly int Ds = Of(nameof(CpuState.Ds));
    public static readonly int Fs = Of(nameof(CpuState.Fs));
    public static readonly int Gs = Of(nameof(CpuState.Gs));
    public static readonly int Cr0 = Of(nameof(CpuState.Cr0));
    public static readonly int Efer = Of(nameof(CpuState.Efer));
    public static readonly int Xmm0 = Of(nameof(CpuState.Xmm));
    public static readonly int Mxcsr = Of(nameof(CpuState.Mxcsr));
    public static readonly int Fpr0 = Of(nameof(CpuState.Fpr0));
    public static readonly int Fcw = Of(nameof(CpuState.Fcw));
    public static readonly int Fsw = Of(nameof(CpuState.Fsw));
    public static readonly int Ftw = Of(nameof(CpuState.Ftw));
    public static readonly int ExceptionVector = Of(nameof(CpuState.ExceptionVector));
    public static readonly int ExceptionErrorCode = Of(nameof(CpuState.ExceptionErrorCode));
    public static readonly int ExceptionAddress = Of(nameof(CpuState.ExceptionAddress));
    public static readonly int ExitRequest = Of(nameof(CpuState.ExitRequest));
    public static readonly int CurrentTbInvalidated = Of(nameof(CpuState.CurrentTbInvalidated));
    public static readonly int Halted = Of(nameof(CpuState.Halted));
    public static readonly int InstructionCount = Of(nameof(CpuState.InstructionCount));
    public static readonly int InstructionLimit = Of(nameof(CpuState.InstructionLimit));

    public static readonly int Dr0 = Of(nameof(CpuState.Dr));
    public static readonly int LdtrSelector = Of(nameof(CpuState.Ldtr)) + 12;
    public static readonly int TrSelector = Of(nameof(CpuState.Tr)) + 12;

    public static int DrOffset(int n) => Dr0 + n * 8;

    public static int GprOffset(int reg) => Gpr0 + reg * 8;

    public static int SegOffset(Seg s) => Es + (int)s * sizeof(SegmentReg);

    public static int SegBase(Seg s) => SegOffset(s);

    public static int SegSelector(Seg s) => SegOffset(s) + 12;

    /// <summary>XMM register <paramref name="n"/> (16 is the scratch register for memory operands).</summary>
    public static int XmmOffset(int n) => Xmm0 + n * 16;

    public const int XmmScratch = 16;

    /// <summary>Physical x87 register <paramref name="n"/> (R0-R7; MMX register n is R[n]'s mantissa).</summary>
    public static int FprOffset(int n) => Fpr0 + n * 16;

    public static string? Name(int offset)
    {
        if (offset >= Gpr0 && offset < Gpr0 + 128 && (offset - Gpr0) % 8 == 0)
        {
            return ((Gpr)((offset - Gpr0) / 8)).ToString().ToLowerInvariant();
        }

        if (offset == Rip) return "rip";
        if (offset == Rflags) return "rflags";
        if (offset == CcDst) return "cc_dst";
        if (offset == CcSrc1) return "cc_src1";
        if (offset == CcSrc2) return "cc_src2";
        if (offset == CcOp) return "cc_op";
        if (offset == Halted) return "halted";
        if (offset == Mxcsr) return "mxcsr";
        for (int s = 0; s < 6; s++)
        {
            if (offset == SegBase((Seg)s)) return ((Seg)s).ToString().ToLowerInvariant() + ".base";
            if (offset == SegSelector((Seg)s)) return ((Seg)s).ToString().ToLowerInvariant() + ".sel";
        }

        if (offset >= Xmm0 && offset < Xmm0 + 17 * 16)
        {
            int n = (offset - Xmm0) / 16;
            return (n == XmmScratch ? "xmm_tmp" : $"xmm{n}") + ((offset - Xmm0) % 16 == 0 ? "" : $"+{(offset - Xmm0) % 16}");
        }

        return null;
    }
}

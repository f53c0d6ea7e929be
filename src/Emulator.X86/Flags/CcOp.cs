namespace Emulator.X86.Flags;

/// <summary>
/// Which operation last set the arithmetic flags (QEMU's CC_OP). A cc_op value is
/// <c>(kind &lt;&lt; 2) | log2(operand bytes)</c>; cc_dst is the result and cc_src1/cc_src2 the
/// operands, all zero-extended, as each kind's comment in <see cref="LazyFlags"/> says.
/// </summary>
public enum CcKind
{
    /// <summary>Flags are materialised: cc_src1 holds the six arithmetic flag bits.</summary>
    Eflags,
    Add,
    Adc,
    Sub,
    Sbb,
    Logic,
    Inc,
    Dec,
    Shl,
    Shr,
    Sar,
    Mul,
    IMul,
}

public static class CcOp
{
    public static ulong Make(CcKind kind, int log2Size) => ((ulong)kind << 2) | (uint)log2Size;

    public static CcKind Kind(ulong ccOp) => (CcKind)(ccOp >> 2);

    public static int Log2Size(ulong ccOp) => (int)(ccOp & 3);

    public static readonly ulong Eflags = Make(CcKind.Eflags, 3);
}

using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>Helpers the frontend's core needs: lazy flag materialisation.</summary>
public static unsafe class CoreHelpers
{
    /// <summary>flags(cc_op, cc_dst, cc_src1, cc_src2): the six arithmetic flags as RFLAGS bits.</summary>
    public static readonly HelperInfo ComputeFlags = HelperTable.Define("compute_flags", 4, OpFlags.Pure, &ComputeFlagsImpl);

    /// <summary>carry(cc_op, cc_dst, cc_src1, cc_src2): CF alone, 0 or 1 (what inc, dec, adc, sbb and jc need from flags an earlier block set).</summary>
    public static readonly HelperInfo ComputeCarry = HelperTable.Define("compute_carry", 4, OpFlags.Pure, &ComputeCarryImpl);

    private static ulong ComputeFlagsImpl(Cpu cpu, ulong op, ulong dst, ulong src1, ulong src2) => LazyFlags.Compute(op, dst, src1, src2);

    private static ulong ComputeCarryImpl(Cpu cpu, ulong op, ulong dst, ulong src1, ulong src2) => LazyFlags.Compute(op, dst, src1, src2) & (ulong)RFlags.CF;
}

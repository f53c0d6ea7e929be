using Emulator.Ir;
using Emulator.X86.Flags;

namespace Emulator.X86.Helpers;

/// <summary>Helpers the frontend's core needs: lazy flag materialisation.</summary>
public static unsafe class CoreHelpers
{
    /// <summary>flags(cc_op, cc_dst, cc_src1, cc_src2): the six arithmetic flags as RFLAGS bits.</summary>
    public static readonly HelperInfo ComputeFlags = HelperTable.Define("compute_flags", 4, OpFlags.Pure, &ComputeFlagsImpl);

    private static ulong ComputeFlagsImpl(Cpu cpu, ulong op, ulong dst, ulong src1, ulong src2) => LazyFlags.Compute(op, dst, src1, src2);
}

using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>Helpers for memory-operand checks the IR has no op for.</summary>
public static unsafe class MemoryHelpers
{
    /// <summary>check_align(addr, mask): #GP(0) when addr &amp; mask != 0 (aligned SSE moves, SDM Vol. 2 MOVDQA "Protected Mode Exceptions").</summary>
    public static readonly HelperInfo CheckAlign = HelperTable.Define("check_align", 2, OpFlags.ReadsState | OpFlags.WritesState | OpFlags.MayFault, &CheckAlignImpl);

    private static ulong CheckAlignImpl(Cpu cpu, ulong addr, ulong mask, ulong unused1, ulong unused2)
    {
        if ((addr & mask) != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
        }

        return 0;
    }
}

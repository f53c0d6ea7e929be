using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>
/// VERR/VERW/LAR/LSL. Each returns the flags result in bit 63 (ZF) and, for LAR/LSL, the value
/// in the low bits; the frontend writes the destination only when ZF is set.
/// </summary>
public static unsafe class SegmentCheckHelpers
{
    private const OpFlags Fx = HelperTable.Effects;
    private const ulong Zf = 1UL << 63;

    /// <summary>verify(selector, write): ZF when the segment is readable (VERR) or writable (VERW) here.</summary>
    public static readonly HelperInfo Verify = HelperTable.Define("verify_segment", 2, Fx, &VerifyImpl);

    /// <summary>lar(selector): access rights (descriptor bits 8-23 of the high dword, masked as LAR does).</summary>
    public static readonly HelperInfo Lar = HelperTable.Define("lar", 1, Fx, &LarImpl);

    /// <summary>lsl(selector): the byte-granular segment limit.</summary>
    public static readonly HelperInfo Lsl = HelperTable.Define("lsl", 1, Fx, &LslImpl);

    private static ulong VerifyImpl(Cpu cpu, ulong selector, ulong write, ulong a2, ulong a3)
    {
        if (!cpu.TryVisibleDescriptor((ushort)selector, out var d, out _) || d.IsSystem)
        {
            return 0;
        }

        bool ok = write != 0 ? d.IsWritableData : d.IsReadable;
        return ok ? Zf : 0;
    }

    private static ulong LarImpl(Cpu cpu, ulong selector, ulong a1, ulong a2, ulong a3)
    {
        if (!cpu.TryVisibleDescriptor((ushort)selector, out var d, out _))
        {
            return 0;
        }

        // System types LAR accepts (SDM Vol. 2A LAR, 64-bit mode): LDT (2), available/busy 64-bit TSS (9, 11), call gate (12).
        if (d.IsSystem && d.Type is not (2 or 9 or 11 or 12))
        {
            return 0;
        }

        return Zf | ((d.Low >> 32) & 0x00f0_ff00);
    }

    private static ulong LslImpl(Cpu cpu, ulong selector, ulong a1, ulong a2, ulong a3)
    {
        if (!cpu.TryVisibleDescriptor((ushort)selector, out var d, out _))
        {
            return 0;
        }

        if (d.IsSystem && d.Type is not (2 or 9 or 11))
        {
            return 0;
        }

        return Zf | d.Limit;
    }
}

using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>Which elements an SSE floating-point instruction works on.</summary>
public enum SseFpShape : ulong
{
    /// <summary>Four singles.</summary>
    Ps = 0,

    /// <summary>Two doubles.</summary>
    Pd = 1,

    /// <summary>The low single; the other elements of the destination are kept.</summary>
    Ss = 2,

    /// <summary>The low double; the high one is kept.</summary>
    Sd = 3,
}

/// <summary>
/// What the SSE floating-point helpers share: state access by offset and the rule for
/// committing a result (SDM Vol. 1 11.5.1 and 11.5.2). Every element is computed first. If any
/// element raised an unmasked pre-computation exception (IE, DE, ZE), only the pre-computation
/// flags of all elements are recorded; else all flags are. Then an unmasked exception raises #XM
/// (or #UD when CR4.OSXMMEXCPT is clear, SDM Vol. 3A 6.15 "Interrupt 19") and the destination is
/// not written; otherwise the results are.
/// </summary>
internal static unsafe class SseFloat
{
    /// <summary>Helpers read MXCSR and registers, write them, and may raise #XM.</summary>
    public const OpFlags Effects = OpFlags.ReadsState | OpFlags.WritesState | OpFlags.MayFault;

    private const ulong Cr4OsXmmExcpt = 1UL << 10;

    /// <summary>The state byte at <paramref name="offset"/> (offsets come from the translator: an XMM, MM or scratch register).</summary>
    public static byte* At(Cpu cpu, ulong offset) => (byte*)cpu.State + (int)offset;

    public static bool IsSingle(SseFpShape s) => s is SseFpShape.Ps or SseFpShape.Ss;

    public static int Lanes(SseFpShape s) => s switch { SseFpShape.Ps => 4, SseFpShape.Pd => 2, _ => 1 };

    /// <summary>Merges <paramref name="flags"/> into MXCSR; false, after raising the exception, when one is unmasked.</summary>
    public static bool Commit(Cpu cpu, uint flags)
    {
        uint mxcsr = cpu.S.Mxcsr;
        uint unmasked = ~(mxcsr >> MxcsrBits.MaskShift) & MxcsrBits.Flags;
        if ((flags & MxcsrBits.PreComputation & unmasked) != 0)
        {
            cpu.S.Mxcsr = mxcsr | (flags & MxcsrBits.PreComputation);
            RaiseSimdException(cpu);
            return false;
        }

        cpu.S.Mxcsr = mxcsr | flags;
        if ((flags & unmasked) != 0)
        {
            RaiseSimdException(cpu);
            return false;
        }

        return true;
    }

    private static void RaiseSimdException(Cpu cpu) =>
        cpu.RaiseException((cpu.S.Cr4 & Cr4OsXmmExcpt) != 0 ? Vector.XM : Vector.UD);

    /// <summary>Copies a 16-byte result into the destination register.</summary>
    public static void Store(byte* dst, ulong* result)
    {
        ((ulong*)dst)[0] = result[0];
        ((ulong*)dst)[1] = result[1];
    }

    /// <summary>
    /// The x87-to-MMX transition of an MMX-register access (SDM Vol. 1 9.5.1): TOP = 0 and every
    /// register tagged valid.
    /// </summary>
    public static void EnterMmx(Cpu cpu)
    {
        cpu.S.Fsw = (ushort)(cpu.S.Fsw & ~(7 << 11));
        cpu.S.Ftw = 0;
    }

    /// <summary>Writes MMX register contents at <paramref name="mm"/>: the mantissa, and all ones in sign and exponent (SDM Vol. 1 9.5.1).</summary>
    public static void StoreMmx(Cpu cpu, byte* mm, ulong value)
    {
        *(ulong*)mm = value;
        *(ushort*)(mm + 8) = 0xffff;
        EnterMmx(cpu);
    }
}

using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>
/// Integer division for DIV and IDIV (SDM Vol. 2A "DIV", "IDIV"). The dividend is hi:lo, each
/// half <c>size</c> bytes wide (AH:AL, DX:AX, EDX:EAX, RDX:RAX); the quotient helpers raise #DE
/// on a zero divisor or a quotient that does not fit the operand size, so the remainder helpers,
/// called after them, only ever see divisions that succeed.
/// </summary>
public static unsafe class DivHelpers
{
    /// <summary>The quotient helpers raise #DE; they touch no register (the translator writes the results).</summary>
    private const OpFlags Faults = OpFlags.ReadsState | OpFlags.WritesState | OpFlags.MayFault;

    /// <summary>int_div_u(hi, lo, divisor, size): unsigned quotient; #DE on divide error.</summary>
    public static readonly HelperInfo DivU = HelperTable.Define("int_div_u", 4, Faults, &DivUImpl, generalState: false);

    /// <summary>int_rem_u(hi, lo, divisor, size): unsigned remainder (0 for a division that would fault).</summary>
    public static readonly HelperInfo RemU = HelperTable.Define("int_rem_u", 4, OpFlags.Pure, &RemUImpl);

    /// <summary>int_div_s(hi, lo, divisor, size): signed quotient, truncated toward zero; #DE on divide error.</summary>
    public static readonly HelperInfo DivS = HelperTable.Define("int_div_s", 4, Faults, &DivSImpl, generalState: false);

    /// <summary>int_rem_s(hi, lo, divisor, size): signed remainder, with the sign of the dividend.</summary>
    public static readonly HelperInfo RemS = HelperTable.Define("int_rem_s", 4, OpFlags.Pure, &RemSImpl);

    private static ulong Mask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;

    private static long SignExtend(ulong v, int bits) => bits == 64 ? (long)v : (long)(v << (64 - bits)) >> (64 - bits);

    /// <summary>The unsigned quotient, or false when the division faults.</summary>
    private static bool TryDivU(ulong hi, ulong lo, ulong divisor, int bits, out ulong quotient, out ulong remainder)
    {
        quotient = remainder = 0;
        divisor &= Mask(bits);
        if (divisor == 0)
        {
            return false;
        }

        if (bits == 64)
        {
            // hi < divisor is exactly the condition for the quotient to fit in 64 bits.
            if (hi >= divisor)
            {
                return false;
            }

            var n = new UInt128(hi, lo);
            quotient = (ulong)(n / divisor);
            remainder = (ulong)(n % divisor);
            return true;
        }

        ulong dividend = ((hi & Mask(bits)) << bits) | (lo & Mask(bits));
        quotient = dividend / divisor;
        remainder = dividend % divisor;
        return quotient <= Mask(bits);
    }

    /// <summary>The signed quotient, or false when the division faults (including MIN / -1).</summary>
    private static bool TryDivS(ulong hi, ulong lo, ulong divisor, int bits, out ulong quotient, out ulong remainder)
    {
        quotient = remainder = 0;
        long d = SignExtend(divisor, bits);
        if (d == 0)
        {
            return false;
        }

        long min = bits == 64 ? long.MinValue : -(1L << (bits - 1));
        long max = bits == 64 ? long.MaxValue : (1L << (bits - 1)) - 1;
        if (bits == 64)
        {
            var n = new Int128(hi, lo);

            // Negating rather than dividing by -1 avoids the host's overflow trap; -MIN stays MIN and fails the range check.
            Int128 q = d == -1 ? -n : n / d;
            if (q < min || q > max)
            {
                return false;
            }

            quotient = (ulong)(long)q;
            remainder = d == -1 ? 0 : (ulong)(long)(n % d);
            return true;
        }

        long dividend = SignExtend(((hi & Mask(bits)) << bits) | (lo & Mask(bits)), bits * 2);
        long sq = d == -1 ? -dividend : dividend / d;
        if (sq < min || sq > max)
        {
            return false;
        }

        quotient = (ulong)sq & Mask(bits);
        remainder = d == -1 ? 0 : (ulong)(dividend % d) & Mask(bits);
        return true;
    }

    private static ulong DivUImpl(Cpu cpu, ulong hi, ulong lo, ulong divisor, ulong size)
    {
        if (!TryDivU(hi, lo, divisor, (int)size * 8, out ulong q, out _))
        {
            cpu.RaiseException(Vector.DE);
        }

        return q;
    }

    private static ulong RemUImpl(Cpu cpu, ulong hi, ulong lo, ulong divisor, ulong size)
    {
        TryDivU(hi, lo, divisor, (int)size * 8, out _, out ulong r);
        return r;
    }

    private static ulong DivSImpl(Cpu cpu, ulong hi, ulong lo, ulong divisor, ulong size)
    {
        if (!TryDivS(hi, lo, divisor, (int)size * 8, out ulong q, out _))
        {
            cpu.RaiseException(Vector.DE);
        }

        return q;
    }

    private static ulong RemSImpl(Cpu cpu, ulong hi, ulong lo, ulong divisor, ulong size)
    {
        TryDivS(hi, lo, divisor, (int)size * 8, out _, out ulong r);
        return r;
    }
}

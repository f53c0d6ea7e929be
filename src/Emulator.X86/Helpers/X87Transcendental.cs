using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;
using static Emulator.X86.Helpers.X87State;

namespace Emulator.X86.Helpers;

/// <summary>
/// The transcendental x87 functions: FSIN FCOS FSINCOS FPTAN FPATAN F2XM1 FYL2X FYL2XP1, to
/// about 64 bits through double-double arithmetic (DoubleDouble.cs), with the special
/// operands of their SDM Vol. 2A tables.
/// </summary>
public static partial class X87Functions
{
    /// <summary>FSIN FCOS FPTAN FSINCOS: |x| &gt;= 2^63 sets C2 and leaves ST(0); an infinity is invalid.</summary>
    private static void Trig(Cpu cpu, int op, in Float80 x, uint exc)
    {
        var c = Classify(x);
        if (c is F80Class.Normal or F80Class.Denormal)
        {
            Unpack(x, out int e, out _);
            if (e >= 63)
            {
                // Out of range: C2 = 1 and the operand is left unchanged (SDM Vol. 2A FSIN).
                Signal(cpu, exc);
                cpu.S.Fsw |= C2;
                return;
            }
        }

        cpu.S.Fsw &= unchecked((ushort)~C2);
        Float80 first;
        Float80 second = default;
        if (c == F80Class.Infinity)
        {
            exc |= IE;
            first = second = Indefinite;
        }
        else if (c is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported)
        {
            first = second = X87Arith.NaNResult(x, x, ref exc);
        }
        else
        {
            SinCosTan(x, ref exc, out var sin, out var cos, out var tan);
            first = op switch { Sin or Sincos => sin, Cos => cos, _ => tan };
            second = op == Ptan ? One : cos;
        }

        if (Unmasked(cpu, exc & (IE | DE)))
        {
            Signal(cpu, exc);
            return;
        }

        Complete(cpu, exc);
        SetSt(cpu, 0, first);
        if (op is Ptan or Sincos)
        {
            Push(cpu, second);
        }
    }

    private static readonly Float80 One = Make(IntegerBit, 0x3FFF);

    /// <summary>
    /// sin, cos and tan of a finite x with |x| &lt; 2^63: to 64 bits through double-double
    /// arithmetic for |x| &lt; 2^40, in double precision beyond (where even a real x87's 66-bit
    /// pi makes the reduced argument inexact).
    /// </summary>
    private static void SinCosTan(in Float80 x, ref uint exc, out Float80 sin, out Float80 cos, out Float80 tan)
    {
        if (Classify(x) == F80Class.Zero)
        {
            sin = tan = x;
            cos = One;
            return;
        }

        exc |= PE;
        Unpack(x, out int e, out _);
        if (e < -60)
        {
            // sin x = x - x^3/6 and cos x = 1 - x^2/2: the corrections are far below an ulp.
            sin = tan = x;
            cos = One;
        }
        else if (e < 40)
        {
            DoubleDouble.SinCos(DoubleDouble.FromFloat80(x), out var s, out var c);
            sin = s.ToFloat80(RoundNearest, ref exc);
            cos = c.ToFloat80(RoundNearest, ref exc);
            tan = (s / c).ToFloat80(RoundNearest, ref exc);
        }
        else
        {
            double d = ToDouble(x);
            sin = FromDouble(Math.Sin(d));
            cos = FromDouble(Math.Cos(d));
            tan = FromDouble(Math.Tan(d));
        }
    }

    /// <summary>
    /// FPATAN's atan2(y, x) for non-NaN operands: to 64 bits through double-double arithmetic;
    /// the results for zero and infinite operands are exact multiples of pi/4 (SDM Vol. 2A
    /// FPATAN); operands whose exponents differ by more than 900 use double precision.
    /// </summary>
    private static Float80 ArcTangent(in Float80 y, in Float80 x, ref uint exc)
    {
        var cx = Classify(x);
        var cy = Classify(y);
        double a0 = Math.Atan2(ToDouble(y), ToDouble(x));
        if (cx is F80Class.Zero or F80Class.Infinity || cy is F80Class.Zero or F80Class.Infinity)
        {
            if (a0 == 0)
            {
                return Zero(double.IsNegative(a0));
            }

            exc |= PE;
            double quarters = Math.Round(a0 / (Math.PI / 4));
            return (DoubleDouble.PiOver2 * new DoubleDouble(quarters / 2, 0)).ToFloat80(RoundNearest, ref exc);
        }

        exc |= PE;
        var ys = DoubleDouble.Significand(y, out int ey);
        var xs = DoubleDouble.Significand(x, out int ex);
        int top = Math.Max(ex, ey);
        if (Math.Min(ex, ey) < top - 900)
        {
            return FromDouble(Math.Atan2(Math.ScaleB(ys.Hi, ey - top) * (Sign(y) ? -1 : 1), Math.ScaleB(xs.Hi, ex - top) * (Sign(x) ? -1 : 1)));
        }

        var yd = new DoubleDouble(Math.ScaleB(ys.Hi, ey - top), Math.ScaleB(ys.Lo, ey - top));
        var xd = new DoubleDouble(Math.ScaleB(xs.Hi, ex - top), Math.ScaleB(xs.Lo, ex - top));
        return DoubleDouble.Atan2(Sign(y) ? -yd : yd, Sign(x) ? -xd : xd).ToFloat80(RoundNearest, ref exc);
    }

    /// <summary>A NaN operand's result, or f applied in double precision.</summary>
    private static Float80 Apply(in Float80 x, ref uint exc, Func<double, double> f)
    {
        var c = Classify(x);
        if (c == F80Class.Unsupported)
        {
            exc |= IE;
            return Indefinite;
        }

        if (c is F80Class.QNaN or F80Class.SNaN)
        {
            return Quiet(x, ref exc);
        }

        return FromArithmetic(f(ToDouble(x)), c != F80Class.Infinity, ref exc);
    }

    /// <summary>The 80-bit form of a result computed in double: a NaN from non-NaN operands is an invalid operation.</summary>
    private static Float80 FromArithmetic(double r, bool finiteOperands, ref uint exc)
    {
        if (double.IsNaN(r))
        {
            exc |= IE;
            return Indefinite;
        }

        if (double.IsInfinity(r) && finiteOperands && (exc & ZE) == 0)
        {
            exc |= OE | PE;
        }

        return FromDouble(r);
    }

    /// <summary>F2XM1: 2^x - 1, to 64 bits for the architectural range |x| &lt;= 1 (double precision beyond it).</summary>
    private static Float80 Exp2Minus1(in Float80 x, int rc, ref uint exc)
    {
        var c = Classify(x);
        if (c is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported)
        {
            return X87Arith.NaNResult(x, x, ref exc);
        }

        if (c == F80Class.Zero || (c == F80Class.Infinity && !Sign(x)))
        {
            return x;
        }

        if (c == F80Class.Infinity)
        {
            return Make(IntegerBit, 0xBFFF); // -1
        }

        Unpack(x, out int e, out _);
        if (e > 0)
        {
            return Apply(x, ref exc, static v => Math.Pow(2, v) - 1);
        }

        exc |= PE;
        if (e < -900)
        {
            return Float80Arith.Multiply(x, Ln2, 64, rc, ref exc); // 2^x - 1 = x ln 2 to far below an ulp
        }

        return DoubleDouble.Exp2M1(DoubleDouble.FromFloat80(x)).ToFloat80(rc, ref exc);
    }

    private static readonly Float80 Ln2 = Make(0xB172_17F7_D1CF_79AC, 0x3FFE);
    private static readonly Float80 Log2E = Make(0xB8AA_3B29_5C17_F0BC, 0x3FFF);

    /// <summary>log2(x) for FYL2X: the indefinite (IE) for x &lt; 0, -inf for a zero, to 64 bits otherwise.</summary>
    private static Float80 Log2Of(in Float80 x, ref uint exc)
    {
        var c = Classify(x);
        if (c == F80Class.Zero)
        {
            return Infinity(true);
        }

        if (Sign(x))
        {
            exc |= IE;
            return Indefinite;
        }

        if (c == F80Class.Infinity)
        {
            return x;
        }

        if (x.Mantissa != IntegerBit)
        {
            exc |= PE; // only powers of two have exact logarithms
        }

        return DoubleDouble.Log2(x).ToFloat80(RoundNearest, ref exc);
    }

    /// <summary>log2(1 + x) for FYL2XP1 (architecturally |x| &lt; 1 - sqrt(2)/2; any x &gt; -1 is computed).</summary>
    private static Float80 Log2OnePlus(in Float80 x, ref uint exc)
    {
        var c = Classify(x);
        if (c == F80Class.Zero || (c == F80Class.Infinity && !Sign(x)))
        {
            return x;
        }

        Unpack(x, out int e, out ulong m);
        if (Sign(x) && e >= 0)
        {
            if (e == 0 && m == IntegerBit)
            {
                return Infinity(true); // 1 + x = 0
            }

            exc |= IE;
            return Indefinite;
        }

        exc |= PE;
        if (e < -900)
        {
            return Float80Arith.Multiply(x, Log2E, 64, RoundNearest, ref exc);
        }

        if (e > 900)
        {
            return DoubleDouble.Log2(x).ToFloat80(RoundNearest, ref exc);
        }

        return DoubleDouble.Log2OnePlus(DoubleDouble.FromFloat80(x)).ToFloat80(RoundNearest, ref exc);
    }
}

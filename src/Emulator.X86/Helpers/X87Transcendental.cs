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
            first = SinCosTan(x, op == Sincos ? Sin : op, ref exc);
            uint cosExc = 0; // C1 follows the first result only
            second = op == Ptan ? One : op == Sincos ? SinCosTan(x, Cos, ref cosExc) : default;
            exc |= cosExc & ~RoundedUp;
        }

        if (Unmasked(cpu, exc & (IE | DE)))
        {
            Signal(cpu, exc & (IE | DE)); // nothing was computed
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
    /// sin, cos (<paramref name="which"/> = Cos) or tan (Ptan) of a finite x with |x| &lt; 2^63:
    /// to 64 bits through double-double arithmetic for |x| &lt; 2^40, in double precision beyond
    /// (where even a real x87's 66-bit pi makes the reduced argument inexact).
    /// </summary>
    private static Float80 SinCosTan(in Float80 x, int which, ref uint exc)
    {
        if (Classify(x) == F80Class.Zero)
        {
            return which == Cos ? One : x;
        }

        exc |= PE;
        Unpack(x, out int e, out ulong m);
        if (e < -60)
        {
            // sin x = x - x^3/6, tan x = x + x^3/3, cos x = 1 - x^2/2: each just below or above
            // a value the format holds, which a sticky bit below the significand expresses.
            var sig = (UInt128)m << 64;
            return which switch
            {
                Sin => PackWide(Sign(x), e, sig - 1, 64, RoundNearest, ref exc),
                Ptan => PackWide(Sign(x), e, sig + 1, 64, RoundNearest, ref exc),
                _ => PackWide(false, 0, (UInt128.One << 127) - 1, 64, RoundNearest, ref exc),
            };
        }

        if (e < 40)
        {
            DoubleDouble.SinCos(DoubleDouble.FromFloat80(x), out var s, out var c);
            var v = which switch { Sin => s, Ptan => s / c, _ => c };
            return v.ToFloat80(RoundNearest, ref exc);
        }

        double d = ToDouble(x);
        return FromDouble(which switch { Sin => Math.Sin(d), Ptan => Math.Tan(d), _ => Math.Cos(d) });
    }

    /// <summary>
    /// FPATAN's atan2(y, x) for non-NaN operands, to 64 bits through double-double arithmetic.
    /// Zero and infinite operands give 0, pi/4, pi/2, 3pi/4 or pi with the sign of y (SDM
    /// Vol. 2A FPATAN); when the exponents differ by more than 900 the result is y/x, pi or
    /// pi/2 to far below an ulp.
    /// </summary>
    private static Float80 ArcTangent(in Float80 y, in Float80 x, ref uint exc)
    {
        var cx = Classify(x);
        var cy = Classify(y);
        bool ny = Sign(y), nx = Sign(x);
        int quarters = -1;
        if (cy == F80Class.Zero)
        {
            quarters = nx ? 4 : 0;
        }
        else if (cy == F80Class.Infinity)
        {
            quarters = cx == F80Class.Infinity ? (nx ? 3 : 1) : 2;
        }
        else if (cx == F80Class.Zero)
        {
            quarters = 2;
        }
        else if (cx == F80Class.Infinity)
        {
            quarters = nx ? 4 : 0;
        }

        if (quarters == 0)
        {
            return Zero(ny);
        }

        exc |= PE;
        var ys = DoubleDouble.Significand(y, out int ey);
        var xs = DoubleDouble.Significand(x, out int ex);
        if (quarters < 0 && ex - ey > 900)
        {
            if (!nx)
            {
                return Float80Arith.Divide(y, x, 64, RoundNearest, ref exc); // atan t = t - t^3/3
            }

            quarters = 4;
        }
        else if (quarters < 0 && ey - ex > 900)
        {
            quarters = 2;
        }

        DoubleDouble angle;
        if (quarters > 0)
        {
            angle = DoubleDouble.PiOver2 * new DoubleDouble(quarters / 2.0, 0);
            if (ny)
            {
                angle = -angle;
            }
        }
        else
        {
            int top = Math.Max(ex, ey);
            var yd = new DoubleDouble(Math.ScaleB(ys.Hi, ey - top), Math.ScaleB(ys.Lo, ey - top));
            var xd = new DoubleDouble(Math.ScaleB(xs.Hi, ex - top), Math.ScaleB(xs.Lo, ex - top));
            angle = DoubleDouble.Atan2(ny ? -yd : yd, nx ? -xd : xd);
        }

        return angle.ToFloat80(RoundNearest, ref exc);
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

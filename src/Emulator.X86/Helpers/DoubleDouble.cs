using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;

namespace Emulator.X86.Helpers;

/// <summary>
/// A value as the unevaluated sum of two doubles (about 106 significant bits), for the x87
/// functions that glibc's i386 libm builds pow, exp and log from (F2XM1, FYL2X, FYL2XP1):
/// computed this way their results are good to the full 64-bit extended significand, where
/// plain double arithmetic would lose the low 11 bits (and pow's y * log2(x) many more).
/// The error-free transformations are Knuth's TwoSum and the FMA product.
/// </summary>
public readonly record struct DoubleDouble(double Hi, double Lo)
{
    /// <summary>ln 2 and log2(e) to 106 bits.</summary>
    public static readonly DoubleDouble Ln2 = new(BitConverter.UInt64BitsToDouble(0x3FE62E42FEFA39EF), BitConverter.UInt64BitsToDouble(0x3C7ABC9E3B39803F));

    public static readonly DoubleDouble Log2E = new(BitConverter.UInt64BitsToDouble(0x3FF71547652B82FE), BitConverter.UInt64BitsToDouble(0x3C7777D0FFDA0D24));

    public static readonly DoubleDouble One = new(1, 0);

    private static DoubleDouble TwoSum(double a, double b)
    {
        double s = a + b;
        double bb = s - a;
        return new(s, (a - (s - bb)) + (b - bb));
    }

    private static DoubleDouble QuickTwoSum(double a, double b)
    {
        double s = a + b;
        return new(s, b - (s - a));
    }

    public static DoubleDouble operator +(DoubleDouble a, DoubleDouble b)
    {
        var s = TwoSum(a.Hi, b.Hi);
        var t = TwoSum(a.Lo, b.Lo);
        s = QuickTwoSum(s.Hi, s.Lo + t.Hi);
        return QuickTwoSum(s.Hi, s.Lo + t.Lo);
    }

    public static DoubleDouble operator -(DoubleDouble a) => new(-a.Hi, -a.Lo);

    public static DoubleDouble operator -(DoubleDouble a, DoubleDouble b) => a + -b;

    public static DoubleDouble operator *(DoubleDouble a, DoubleDouble b)
    {
        double p = a.Hi * b.Hi;
        double e = Math.FusedMultiplyAdd(a.Hi, b.Hi, -p);
        return QuickTwoSum(p, e + (a.Hi * b.Lo) + (a.Lo * b.Hi));
    }

    public static DoubleDouble operator /(DoubleDouble a, DoubleDouble b)
    {
        double q1 = a.Hi / b.Hi;
        var r = a - (b * new DoubleDouble(q1, 0));
        double q2 = r.Hi / b.Hi;
        r -= b * new DoubleDouble(q2, 0);
        double q3 = r.Hi / b.Hi;
        return QuickTwoSum(q1, q2) + new DoubleDouble(q3, 0);
    }

    /// <summary>
    /// A finite 80-bit value's significand as a value in [1, 2) (exactly: its top 53 and low 11
    /// bits), with the exponent apart so any 80-bit exponent works.
    /// </summary>
    public static DoubleDouble Significand(in Float80 v, out int exponent)
    {
        Unpack(v, out exponent, out ulong m);
        return new DoubleDouble(Math.ScaleB(m >> 11, -52), Math.ScaleB(m & 0x7FF, -63));
    }

    /// <summary>A finite 80-bit value of moderate exponent (|e| &lt; 960) exactly.</summary>
    public static DoubleDouble FromFloat80(in Float80 v)
    {
        if (Classify(v) == F80Class.Zero)
        {
            return new(Sign(v) ? -0.0 : 0.0, 0);
        }

        var s = Significand(v, out int e);
        double sign = Sign(v) ? -1 : 1;
        return new(sign * Math.ScaleB(s.Hi, e), sign * Math.ScaleB(s.Lo, e));
    }

    /// <summary>The value correctly rounded to 64 bits (an exact add of the two parts).</summary>
    public Float80 ToFloat80(int rc, ref uint exc)
    {
        var hi = FromDouble(Hi);
        if (Lo == 0 || double.IsNaN(Hi) || double.IsInfinity(Hi))
        {
            return hi;
        }

        var lo = FromDouble(Lo);
        return Hi == 0 ? lo : Float80Arith.Add(hi, lo, 64, rc, ref exc);
    }

    /// <summary>ln(1 + x) for the argument s = x / (2 + x): 2 (s + s^3/3 + s^5/5 + ...), |s| well below 1.</summary>
    public static DoubleDouble Log1pFromS(DoubleDouble s)
    {
        var s2 = s * s;
        var term = s;
        var sum = s;
        for (int k = 3; k < 200; k += 2)
        {
            term *= s2;
            var add = term / new DoubleDouble(k, 0);
            sum += add;
            if (Math.Abs(add.Hi) <= Math.Abs(sum.Hi) * 1e-34)
            {
                break;
            }
        }

        return sum + sum;
    }

    /// <summary>log2 of a positive finite 80-bit value.</summary>
    public static DoubleDouble Log2(in Float80 v)
    {
        var m = Significand(v, out int e);
        if (m.Hi > Math.Sqrt(2))
        {
            // m in [sqrt(1/2), sqrt(2)) keeps the series argument below 0.172.
            m = new DoubleDouble(m.Hi / 2, m.Lo / 2);
            e++;
        }

        var s = (m - One) / (m + One);
        return new DoubleDouble(e, 0) + (Log1pFromS(s) * Log2E);
    }

    /// <summary>log2(1 + x) for a finite x &gt; -1 of moderate exponent.</summary>
    public static DoubleDouble Log2OnePlus(DoubleDouble x)
    {
        if (Math.Abs(x.Hi) < 0.25)
        {
            return Log1pFromS(x / (new DoubleDouble(2, 0) + x)) * Log2E;
        }

        // Away from 0 there is no cancellation to avoid: split 1 + x into 2^e * m.
        var y = One + x;
        int e = Math.ILogB(y.Hi);
        var m = new DoubleDouble(Math.ScaleB(y.Hi, -e), Math.ScaleB(y.Lo, -e));
        if (m.Hi > Math.Sqrt(2))
        {
            m = new DoubleDouble(m.Hi / 2, m.Lo / 2);
            e++;
        }

        return new DoubleDouble(e, 0) + (Log1pFromS((m - One) / (m + One)) * Log2E);
    }

    /// <summary>2^x - 1 for |x| &lt;= 1: the Taylor series of e^t - 1 at t = x ln 2.</summary>
    public static DoubleDouble Exp2M1(DoubleDouble x)
    {
        var t = x * Ln2;
        var term = t;
        var sum = t;
        for (int k = 2; k < 60; k++)
        {
            term = term * t / new DoubleDouble(k, 0);
            sum += term;
            if (Math.Abs(term.Hi) <= Math.Abs(sum.Hi) * 1e-34)
            {
                break;
            }
        }

        return sum;
    }

    /// <summary>pi / 2 to 106 bits, and the next 53 bits of it for argument reduction.</summary>
    public static readonly DoubleDouble PiOver2 = new(BitConverter.UInt64BitsToDouble(0x3FF921FB54442D18), BitConverter.UInt64BitsToDouble(0x3C91A62633145C07));

    private static readonly double PiOver2Tail = BitConverter.UInt64BitsToDouble(0xB91F1976B7ED8FBC);

    private static DoubleDouble TwoProd(double a, double b)
    {
        double p = a * b;
        return new(p, Math.FusedMultiplyAdd(a, b, -p));
    }

    /// <summary>
    /// sin x and cos x for |x| &lt; 2^40: x is reduced by the nearest multiple n of pi/2 (a
    /// 159-bit pi/2, each product exact), then Taylor series on |r| &lt;= pi/4.
    /// </summary>
    public static void SinCos(DoubleDouble x, out DoubleDouble sin, out DoubleDouble cos)
    {
        double n = Math.Round(x.Hi / PiOver2.Hi);
        var r = x - TwoProd(n, PiOver2.Hi) - TwoProd(n, PiOver2.Lo) - new DoubleDouble(n * PiOver2Tail, 0);
        var r2 = r * r;
        var s = r;
        var c = One;
        var ts = r;
        var tc = One;
        for (int k = 1; k < 40; k += 2)
        {
            ts = -(ts * r2) / new DoubleDouble((k + 1) * (k + 2), 0);
            tc = -(tc * r2) / new DoubleDouble(k * (k + 1), 0);
            s += ts;
            c += tc;
            if (Math.Abs(tc.Hi) <= 1e-34 && Math.Abs(ts.Hi) <= Math.Abs(s.Hi) * 1e-34)
            {
                break;
            }
        }

        switch ((((long)n % 4) + 4) % 4)
        {
            case 0: sin = s; cos = c; break;
            case 1: sin = c; cos = -s; break;
            case 2: sin = -s; cos = -c; break;
            default: sin = -c; cos = s; break;
        }
    }

    /// <summary>
    /// atan2(y, x) for finite non-zero y and x of moderate size: one Newton step on
    /// y cos t - x sin t = 0 from the double-precision angle doubles its 53 correct bits.
    /// </summary>
    public static DoubleDouble Atan2(DoubleDouble y, DoubleDouble x)
    {
        var t = new DoubleDouble(Math.Atan2(y.Hi, x.Hi), 0);
        SinCos(t, out var sin, out var cos);
        return t + (((y * cos) - (x * sin)) / ((x * cos) + (y * sin)));
    }
}

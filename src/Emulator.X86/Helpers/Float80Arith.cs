using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;

namespace Emulator.X86.Helpers;

/// <summary>
/// Correctly rounded add, multiply, divide and square root of finite non-zero 80-bit values,
/// to the precision-control width (24, 53 or 64 bits, SDM Vol. 1 8.1.5.2) and the rounding
/// control, on 128-bit integer significands. Zeros, infinities and NaNs are the caller's.
/// Each value is m * 2^(e - 63) with m normalised (Float80Math.Unpack); an intermediate
/// result is sig * 2^(E - 127) for a 128-bit sig whose low bits carry the sticky information.
/// </summary>
public static class Float80Arith
{
    /// <summary>a + b (b's sign already applied for a subtraction); an exact zero sum is +0, or -0 when rounding down.</summary>
    public static Float80 Add(in Float80 a, in Float80 b, int p, int rc, ref uint exc)
    {
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        bool na = Sign(a), nb = Sign(b);
        if (ea < eb || (ea == eb && ma < mb))
        {
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
            (na, nb) = (nb, na);
        }

        // Both significands at bit 126, so the sum cannot carry out of 128 bits.
        UInt128 x = (UInt128)ma << 63;
        UInt128 y = (UInt128)mb << 63;
        int d = ea - eb;
        if (d >= 127)
        {
            y = UInt128.One; // only a sticky bit is left of the smaller operand
        }
        else if (d > 0)
        {
            bool lost = (y & ((UInt128.One << d) - 1)) != 0;
            y = (y >> d) | (lost ? UInt128.One : UInt128.Zero);
        }

        UInt128 sum;
        bool negative = na;
        if (na == nb)
        {
            sum = x + y;
        }
        else
        {
            sum = x - y; // x >= y: |a| >= |b| after the swap
            if (sum == 0)
            {
                return Zero(rc == RoundDown);
            }
        }

        // x has its top bit at 126 for a value of ma * 2^(ea - 63): sig * 2^(ea + 1 - 127).
        return PackWide(negative, ea + 1, sum, p, rc, ref exc);
    }

    public static Float80 Multiply(in Float80 a, in Float80 b, int p, int rc, ref uint exc)
    {
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);
        UInt128 product = (UInt128)ma * mb; // exact: ma * mb * 2^(ea + eb - 126)
        return PackWide(Sign(a) != Sign(b), ea + eb + 1, product, p, rc, ref exc);
    }

    public static Float80 Divide(in Float80 a, in Float80 b, int p, int rc, ref uint exc)
    {
        Unpack(a, out int ea, out ulong ma);
        Unpack(b, out int eb, out ulong mb);

        // A dividend of ma * 2^64 (or 2^63 when ma >= mb) keeps the first quotient word in [2^63, 2^64).
        int shift = ma < mb ? 64 : 63;
        UInt128 dividend = (UInt128)ma << shift;
        UInt128 q1 = dividend / mb;
        UInt128 r1 = dividend - (q1 * mb);
        UInt128 q2 = (r1 << 64) / mb;
        UInt128 r2 = (r1 << 64) - (q2 * mb);
        UInt128 sig = (q1 << 64) | q2 | (r2 != 0 ? UInt128.One : UInt128.Zero);

        // ma / mb = sig * 2^-(64 + shift), so a / b = sig * 2^(ea - eb - 64 - shift).
        return PackWide(Sign(a) != Sign(b), ea - eb + 63 - shift, sig, p, rc, ref exc);
    }

    /// <summary>The square root of a positive value.</summary>
    public static Float80 SquareRoot(in Float80 a, int p, int rc, ref uint exc)
    {
        Unpack(a, out int e, out ulong m);
        int t = e - 63;                       // a = m * 2^t
        int k = (t & 1) == 0 ? 64 : 63;       // n = m * 2^k in [2^126, 2^128) with t - k even
        UInt128 n = (UInt128)m << k;
        UInt128 r = IntegerSqrt(n);           // in [2^63, 2^64)
        UInt128 rem = n - (r * r);

        // sqrt(n) is never exactly r + 1/2, so rem > r means above the half-way point.
        UInt128 low = rem > r ? (UInt128.One << 63) | UInt128.One : rem != 0 ? UInt128.One : UInt128.Zero;
        UInt128 sig = (r << 64) | low;

        // sqrt(a) = sqrt(n) * 2^((t - k) / 2) = sig * 2^((t - k) / 2 - 64).
        return PackWide(false, ((t - k) / 2) + 63, sig, p, rc, ref exc);
    }

    /// <summary>floor(sqrt(n)) for n in [2^126, 2^128): Newton's method from a double estimate, then exact correction.</summary>
    private static UInt128 IntegerSqrt(UInt128 n)
    {
        UInt128 max = ulong.MaxValue;
        var r = (UInt128)Math.Sqrt((double)n);
        for (int i = 0; i < 3; i++)
        {
            r = r > max ? max : r;
            r = (r + (n / r)) >> 1;
        }

        r = r > max ? max : r;
        while (r * r > n)
        {
            r--;
        }

        while (r < max && (r + 1) * (r + 1) <= n)
        {
            r++;
        }

        return r;
    }
}

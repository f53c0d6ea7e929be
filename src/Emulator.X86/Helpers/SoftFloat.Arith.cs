using System.Numerics;

namespace Emulator.X86.Helpers;

/// <summary>
/// Add, subtract, multiply, divide and square root, correctly rounded. DE is reported only when a
/// denormal operand is used: not when the result is a NaN from another operand, an invalid
/// operation or a division by zero, and never under DAZ (SDM Vol. 1 4.9.1.2, 4.9.2).
/// </summary>
public static partial class SoftFloat
{
    private static void DenormalOperand(in IeeeFormat f, ulong a, ulong b, ref uint flags)
    {
        if (IsDenormal(in f, a) || IsDenormal(in f, b))
        {
            flags |= MxcsrBits.DE;
        }
    }

    /// <summary>a + b, or a - b when <paramref name="subtract"/>.</summary>
    public static ulong Add(in IeeeFormat f, ulong a, ulong b, bool subtract, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in f, a, mxcsr);
        b = FlushInput(in f, b, mxcsr);
        if (IsNaN(in f, a) || IsNaN(in f, b))
        {
            return PropagateNaN(in f, a, b, ref flags);
        }

        if (subtract)
        {
            b ^= f.SignBit;
        }

        if (IsInf(in f, a) || IsInf(in f, b))
        {
            if (IsInf(in f, a) && IsInf(in f, b) && a != b)
            {
                flags |= MxcsrBits.IE;
                return f.DefaultNaN;
            }

            DenormalOperand(in f, a, b, ref flags);
            return IsInf(in f, a) ? a : b;
        }

        DenormalOperand(in f, a, b, ref flags);
        if (IsZero(in f, a))
        {
            if (IsZero(in f, b))
            {
                return a == b ? a : CancellationZero(in f, mxcsr);
            }

            return Repack(in f, b, mxcsr, ref flags);
        }

        if (IsZero(in f, b))
        {
            return Repack(in f, a, mxcsr, ref flags);
        }

        bool na = IsNegative(in f, a), nb = IsNegative(in f, b);
        int ea = Unpack(in f, a, out ulong ma);
        int eb = Unpack(in f, b, out ulong mb);
        if (ea < eb || (ea == eb && ma < mb))
        {
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
            (na, nb) = (nb, na);
        }

        int d = ea - eb;
        if (d > 63)
        {
            mb = 1;
        }
        else if (d > 0)
        {
            mb = (mb >> d) | ((mb & ((1UL << d) - 1)) != 0 ? 1UL : 0);
        }

        ulong m;
        int e = ea;
        if (na == nb)
        {
            m = ma + mb;
            if ((m >> 63) != 0)
            {
                m = (m >> 1) | (m & 1);
                e++;
            }
        }
        else
        {
            m = ma - mb;
            if (m == 0)
            {
                return CancellationZero(in f, mxcsr);
            }

            int lz = BitOperations.LeadingZeroCount(m) - 1;
            m <<= lz;
            e -= lz;
        }

        return RoundPack(in f, na, e, m, mxcsr, ref flags);
    }

    public static ulong Mul(in IeeeFormat f, ulong a, ulong b, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in f, a, mxcsr);
        b = FlushInput(in f, b, mxcsr);
        if (IsNaN(in f, a) || IsNaN(in f, b))
        {
            return PropagateNaN(in f, a, b, ref flags);
        }

        bool negative = IsNegative(in f, a) != IsNegative(in f, b);
        ulong sign = negative ? f.SignBit : 0;
        if (IsInf(in f, a) || IsInf(in f, b))
        {
            if (IsZero(in f, a) || IsZero(in f, b))
            {
                flags |= MxcsrBits.IE;
                return f.DefaultNaN;
            }

            DenormalOperand(in f, a, b, ref flags);
            return sign | f.Infinity;
        }

        DenormalOperand(in f, a, b, ref flags);
        if (IsZero(in f, a) || IsZero(in f, b))
        {
            return sign;
        }

        int ea = Unpack(in f, a, out ulong ma);
        int eb = Unpack(in f, b, out ulong mb);

        // ma * mb is in [2^124, 2^126); keep it with the leading one at bit 62 or 63.
        ulong hi = Math.BigMul(ma, mb, out ulong lo);
        ulong m = (hi << 2) | (lo >> 62);
        ulong sticky = (lo & ((1UL << 62) - 1)) != 0 ? 1UL : 0;
        int e = ea + eb;
        if ((m >> 63) != 0)
        {
            sticky |= m & 1;
            m >>= 1;
            e++;
        }

        return RoundPack(in f, negative, e, m | sticky, mxcsr, ref flags);
    }

    public static ulong Div(in IeeeFormat f, ulong a, ulong b, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in f, a, mxcsr);
        b = FlushInput(in f, b, mxcsr);
        if (IsNaN(in f, a) || IsNaN(in f, b))
        {
            return PropagateNaN(in f, a, b, ref flags);
        }

        bool negative = IsNegative(in f, a) != IsNegative(in f, b);
        ulong sign = negative ? f.SignBit : 0;
        if (IsInf(in f, a))
        {
            if (IsInf(in f, b))
            {
                flags |= MxcsrBits.IE;
                return f.DefaultNaN;
            }

            DenormalOperand(in f, a, b, ref flags);
            return sign | f.Infinity;
        }

        if (IsInf(in f, b))
        {
            DenormalOperand(in f, a, b, ref flags);
            return sign;
        }

        if (IsZero(in f, b))
        {
            if (IsZero(in f, a))
            {
                flags |= MxcsrBits.IE;
                return f.DefaultNaN;
            }

            flags |= MxcsrBits.ZE;
            return sign | f.Infinity;
        }

        DenormalOperand(in f, a, b, ref flags);
        if (IsZero(in f, a))
        {
            return sign;
        }

        int ea = Unpack(in f, a, out ulong ma);
        int eb = Unpack(in f, b, out ulong mb);
        int e = ea - eb;

        // Scale the dividend so the quotient lands in [2^62, 2^63).
        int scale = 62;
        if (ma < mb)
        {
            scale = 63;
            e--;
        }

        UInt128 n = (UInt128)ma << scale;
        UInt128 q = n / mb;
        ulong m = (ulong)q;
        if (n - (q * mb) != 0)
        {
            m |= 1;
        }

        return RoundPack(in f, negative, e, m, mxcsr, ref flags);
    }

    public static ulong Sqrt(in IeeeFormat f, ulong a, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in f, a, mxcsr);
        if (IsNaN(in f, a))
        {
            return PropagateNaN(in f, a, a, ref flags);
        }

        if (IsZero(in f, a))
        {
            return a;
        }

        if (IsNegative(in f, a))
        {
            flags |= MxcsrBits.IE;
            return f.DefaultNaN;
        }

        if (IsInf(in f, a))
        {
            return a;
        }

        DenormalOperand(in f, a, a, ref flags);
        int ea = Unpack(in f, a, out ulong ma);

        // value = ma * 2^(ea - 62); with ea even, sqrt = isqrt(ma * 2^62) * 2^(ea/2 - 62), in [2^62, 2^62.5).
        int scale = 62;
        if ((ea & 1) != 0)
        {
            scale = 63;
            ea--;
        }

        UInt128 n = (UInt128)ma << scale;
        ulong r = ISqrt(n);
        ulong m = r;
        if ((UInt128)r * r != n)
        {
            m |= 1;
        }

        return RoundPack(in f, false, ea / 2, m, mxcsr, ref flags);
    }

    /// <summary>floor(sqrt(n)) for n below 2^126: a double estimate, one Newton step, then an exact fix-up.</summary>
    private static ulong ISqrt(UInt128 n)
    {
        ulong r = (ulong)Math.Sqrt((double)n);
        if (r != 0)
        {
            r = (ulong)((r + (n / r)) >> 1);
        }

        while ((UInt128)r * r > n)
        {
            r--;
        }

        while ((UInt128)(r + 1) * (r + 1) <= n)
        {
            r++;
        }

        return r;
    }
}

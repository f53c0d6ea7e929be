using System.Numerics;

namespace Emulator.X86.Helpers;

/// <summary>How two values compare.</summary>
public enum IeeeRelation
{
    Less,
    Equal,
    Greater,
    Unordered,
}

/// <summary>Comparisons, MIN/MAX and conversions between the formats and to and from integers.</summary>
public static partial class SoftFloat
{
    /// <summary>
    /// Compares a with b. A signaling NaN is always invalid; a quiet NaN only when
    /// <paramref name="signalOnQNaN"/> (the LT/LE/NLT/NLE predicates, COMIS*, MIN/MAX).
    /// </summary>
    public static IeeeRelation Compare(in IeeeFormat f, ulong a, ulong b, bool signalOnQNaN, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in f, a, mxcsr);
        b = FlushInput(in f, b, mxcsr);
        if (IsNaN(in f, a) || IsNaN(in f, b))
        {
            if (signalOnQNaN || IsSNaN(in f, a) || IsSNaN(in f, b))
            {
                flags |= MxcsrBits.IE;
            }

            return IeeeRelation.Unordered;
        }

        DenormalOperand(in f, a, b, ref flags);
        long ka = OrderKey(in f, a), kb = OrderKey(in f, b);
        return ka < kb ? IeeeRelation.Less : ka > kb ? IeeeRelation.Greater : IeeeRelation.Equal;
    }

    /// <summary>A signed integer that orders non-NaN values as the reals do (both zeros map to 0).</summary>
    private static long OrderKey(in IeeeFormat f, ulong a)
    {
        long mag = (long)(a & ~f.SignBit);
        return IsNegative(in f, a) ? -mag : mag;
    }

    /// <summary>
    /// MINPS/MINSS (and MAX with <paramref name="max"/>): the first source if it is strictly less
    /// (greater), else the second, unchanged even if a signaling NaN: so the second when either is a
    /// NaN or both are zeros (SDM Vol. 2 MINPS). Invalid on any NaN. A DAZ-flushed operand is
    /// returned as the zero it was flushed to.
    /// </summary>
    public static ulong MinMax(in IeeeFormat f, ulong a, ulong b, bool max, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in f, a, mxcsr);
        b = FlushInput(in f, b, mxcsr);
        var r = Compare(in f, a, b, signalOnQNaN: true, mxcsr, ref flags);
        return r == (max ? IeeeRelation.Greater : IeeeRelation.Less) ? a : b;
    }

    /// <summary>
    /// Float to signed integer of <paramref name="bits"/> (32 or 64) bits, rounding per MXCSR.RC or
    /// toward zero. NaN, infinity and out-of-range values give the integer indefinite (the sign bit
    /// alone) and IE (SDM Vol. 2 CVTSS2SI). No DE: the result is not a float.
    /// </summary>
    public static ulong ToInt(in IeeeFormat f, ulong a, int bits, bool truncate, uint mxcsr, ref uint flags)
    {
        ulong indefinite = 1UL << (bits - 1);
        ulong resultMask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        a = FlushInput(in f, a, mxcsr);
        if (IsNaN(in f, a) || IsInf(in f, a))
        {
            flags |= MxcsrBits.IE;
            return indefinite;
        }

        if (IsZero(in f, a))
        {
            return 0;
        }

        bool negative = IsNegative(in f, a);
        int e = Unpack(in f, a, out ulong sig);
        ulong mag;
        bool inexact;
        if (e <= 62)
        {
            var rc = truncate ? IeeeRounding.TowardZero : Rounding(mxcsr);
            mag = RoundShift(sig, Math.Min(62 - e, 200), negative, rc, out inexact);
        }
        else if (e == 63 && sig == 1UL << 62)
        {
            // Exactly 2^63: representable only as -2^63.
            mag = 1UL << 63;
            inexact = false;
        }
        else
        {
            flags |= MxcsrBits.IE;
            return indefinite;
        }

        ulong limit = negative ? indefinite : indefinite - 1;
        if (mag > limit)
        {
            flags |= MxcsrBits.IE;
            return indefinite;
        }

        if (inexact)
        {
            flags |= MxcsrBits.PE;
        }

        return (negative ? 0 - mag : mag) & resultMask;
    }

    /// <summary>Signed integer to float, rounding per MXCSR.RC (PE when inexact; nothing else can happen).</summary>
    public static ulong FromInt(in IeeeFormat f, long v, uint mxcsr, ref uint flags)
    {
        if (v == 0)
        {
            return 0;
        }

        bool negative = v < 0;
        ulong mag = negative ? 0 - (ulong)v : (ulong)v;
        int lz = BitOperations.LeadingZeroCount(mag);
        ulong sig;
        int e;
        if (lz == 0)
        {
            sig = (mag >> 1) | (mag & 1);
            e = 63;
        }
        else
        {
            sig = mag << (lz - 1);
            e = 63 - lz;
        }

        return RoundPack(in f, negative, e, sig, mxcsr, ref flags);
    }

    /// <summary>
    /// Converts between float formats (CVTSS2SD, CVTSD2SS ...). A NaN keeps its sign and the top of
    /// its payload and is made quiet (SDM Vol. 1 4.8.3.5); narrowing rounds with overflow/underflow.
    /// </summary>
    public static ulong Convert(in IeeeFormat from, in IeeeFormat to, ulong a, uint mxcsr, ref uint flags)
    {
        a = FlushInput(in from, a, mxcsr);
        bool negative = IsNegative(in from, a);
        ulong sign = negative ? to.SignBit : 0;
        if (IsNaN(in from, a))
        {
            if (IsSNaN(in from, a))
            {
                flags |= MxcsrBits.IE;
            }

            ulong frac = a & from.FracMask;
            frac = to.FracBits >= from.FracBits ? frac << (to.FracBits - from.FracBits) : frac >> (from.FracBits - to.FracBits);
            return sign | to.ExpField | to.QuietBit | frac;
        }

        if (IsInf(in from, a))
        {
            return sign | to.Infinity;
        }

        if (IsZero(in from, a))
        {
            return sign;
        }

        DenormalOperand(in from, a, a, ref flags);
        int e = Unpack(in from, a, out ulong sig);
        return RoundPack(in to, negative, e, sig, mxcsr, ref flags);
    }
}

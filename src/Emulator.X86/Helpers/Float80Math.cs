using System.Numerics;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>The classes of an 80-bit value, as FXAM reports them (SDM Vol. 1 8.2.2, Table 8-3).</summary>
public enum F80Class
{
    /// <summary>Unnormal, pseudo-NaN, pseudo-infinity: invalid operands on the 387 and later.</summary>
    Unsupported,
    Zero,
    Denormal,
    Normal,
    Infinity,
    QNaN,
    SNaN,
}

/// <summary>
/// The double extended-precision format (SDM Vol. 1 4.2.2, 4.8): a 64-bit significand with an
/// explicit integer bit, a 15-bit exponent biased by 16383, and a sign. Exact conversions
/// between it and the single, double and integer formats, rounded as the x87 rounding control
/// says (SDM Vol. 1 4.8.4, Table 4-8).
/// </summary>
public static class Float80Math
{
    public const int Bias = 16383;
    public const ulong IntegerBit = 1UL << 63;
    public const ulong QuietBit = 1UL << 62;

    /// <summary>The QNaN floating-point indefinite (SDM Vol. 1 Table 4-3).</summary>
    public static readonly Float80 Indefinite = Make(0xC000_0000_0000_0000, 0xFFFF);

    // x87 exception flags, as in FSW and FCW (SDM Vol. 1 8.1.3).
    public const uint IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32, SF = 64;

    /// <summary>Not an exception: set with PE when rounding increased the magnitude; the position of C1 in FSW.</summary>
    public const uint RoundedUp = 0x200;

    /// <summary>
    /// Requests passed in the flags to the arithmetic: deliver the unmasked overflow or
    /// underflow response (the result's exponent adjusted by <see cref="WrapBias"/>).
    /// </summary>
    public const uint WrapOverflow = 1u << 16, WrapUnderflow = 1u << 17;

    public const int WrapBias = 24576;

    // Rounding control, FCW bits 10-11 (SDM Vol. 1 Table 4-8).
    public const int RoundNearest = 0, RoundDown = 1, RoundUp = 2, RoundChop = 3;

    public static Float80 Make(ulong mantissa, int signExponent) =>
        new() { Mantissa = mantissa, SignExponent = (ushort)signExponent };

    public static Float80 Zero(bool negative) => Make(0, negative ? 0x8000 : 0);

    public static Float80 Infinity(bool negative) => Make(IntegerBit, negative ? 0xFFFF : 0x7FFF);

    public static bool Sign(in Float80 v) => (v.SignExponent & 0x8000) != 0;

    public static int BiasedExponent(in Float80 v) => v.SignExponent & 0x7FFF;

    public static F80Class Classify(in Float80 v)
    {
        int e = BiasedExponent(v);
        ulong m = v.Mantissa;
        if (e == 0)
        {
            return m == 0 ? F80Class.Zero : F80Class.Denormal;
        }

        if ((m & IntegerBit) == 0)
        {
            return F80Class.Unsupported;
        }

        if (e == 0x7FFF)
        {
            if ((m << 1) == 0)
            {
                return F80Class.Infinity;
            }

            return (m & QuietBit) != 0 ? F80Class.QNaN : F80Class.SNaN;
        }

        return F80Class.Normal;
    }

    public static bool IsNaN(in Float80 v) => Classify(v) is F80Class.QNaN or F80Class.SNaN;

    /// <summary>The tag of a non-empty register: 0 valid, 1 zero, 2 special (SDM Vol. 1 8.1.7).</summary>
    public static int Tag(in Float80 v) => Classify(v) switch
    {
        F80Class.Normal => 0,
        F80Class.Zero => 1,
        _ => 2,
    };

    /// <summary>
    /// A finite non-zero value as (exponent, significand) with the significand normalised
    /// (bit 63 set): the value is significand * 2^(exponent - 63). Denormals and
    /// pseudo-denormals use exponent 1 - bias before normalising.
    /// </summary>
    public static void Unpack(in Float80 v, out int exponent, out ulong significand)
    {
        int e = BiasedExponent(v);
        ulong m = v.Mantissa;
        exponent = (e == 0 ? 1 : e) - Bias;
        int lz = BitOperations.LeadingZeroCount(m);
        significand = m << lz;
        exponent -= lz;
    }

    /// <summary>
    /// Shifts <paramref name="m"/> right by <paramref name="shift"/> bits, rounding as
    /// <paramref name="rc"/> says for a value of sign <paramref name="negative"/> (an integer
    /// conversion: FIST, FRNDINT, FBSTP).
    /// </summary>
    public static ulong ShiftRound(ulong m, int shift, bool negative, int rc, out bool inexact, out bool up)
    {
        if (shift == 0)
        {
            inexact = false;
            up = false;
            return m;
        }

        ulong q, rem, h;
        if (shift >= 64)
        {
            q = 0;
            rem = shift == 64 ? m : (m != 0 ? 1UL : 0); // beyond bit 64 only "non-zero, below half" matters
            h = shift == 64 ? IntegerBit : ulong.MaxValue;
        }
        else
        {
            q = m >> shift;
            rem = m & ((1UL << shift) - 1);
            h = 1UL << (shift - 1);
        }

        inexact = rem != 0;
        up = rc switch
        {
            RoundNearest => rem > h || (rem == h && (q & 1) != 0),
            RoundDown => negative && inexact,
            RoundUp => !negative && inexact,
            _ => false,
        };
        return up ? q + 1 : q;
    }

    /// <summary>
    /// Rounds sign * <paramref name="m"/> * 2^(<paramref name="e"/> - 63) (m normalised, non-zero;
    /// <paramref name="sticky"/>: non-zero bits lie below m) to <paramref name="p"/> significand
    /// bits; see <see cref="RoundWide"/>.
    /// </summary>
    public static ulong Round(bool negative, int e, ulong m, bool sticky, int p, int bias, int rc, ref uint exc, out int biased) =>
        RoundWide(negative, e, ((UInt128)m << 64) | (sticky ? UInt128.One : UInt128.Zero), p, bias, rc, ref exc, out biased);

    /// <summary>
    /// Rounds sign * <paramref name="sig"/> * 2^(<paramref name="e"/> - 127) (sig normalised: bit
    /// 127 set) to <paramref name="p"/> (at most 64) significand bits with the exponent range of
    /// <paramref name="bias"/>, as <paramref name="rc"/> says. Returns the significand (its top
    /// bit at p - 1 for a normal result) and the biased exponent (<paramref name="biased"/> 0
    /// for a denormal or zero, 2 * bias + 1 for an infinity) and adds the OE, UE and PE flags
    /// the rounding raised, with the masked responses (SDM Vol. 1 4.9.1.4-4.9.1.6).
    /// </summary>
    public static ulong RoundWide(bool negative, int e, UInt128 sig, int p, int bias, int rc, ref uint exc, out int biased)
    {
        int eMin = 1 - bias;
        int eMax = bias;
        bool tiny = e < eMin;
        int shift = 128 - p + (tiny ? Math.Min(eMin - e, 200) : 0);
        UInt128 q;
        bool half, above, inexact;
        if (shift >= 128)
        {
            var h = UInt128.One << 127;
            q = 0;
            half = shift == 128 && sig == h;
            above = shift == 128 && sig > h;
            inexact = sig != 0;
        }
        else
        {
            var h = UInt128.One << (shift - 1);
            var rem = sig & ((UInt128.One << shift) - 1);
            q = sig >> shift;
            half = rem == h;
            above = rem > h;
            inexact = rem != 0;
        }

        bool up = rc switch
        {
            RoundNearest => above || (half && (q & 1) != 0),
            RoundDown => negative && inexact,
            RoundUp => !negative && inexact,
            _ => false,
        };
        if (up)
        {
            q++;
            exc |= RoundedUp;
        }

        int lsbExp = (tiny ? eMin : e) - (p - 1);
        if (inexact)
        {
            exc |= PE;
            if (tiny && !(e == eMin - 1 && RoundsToPowerOfTwo(sig, p, negative, rc)))
            {
                // Tininess is detected after rounding (as the hardware does): a value just
                // below the smallest normal that rounds up to it does not underflow.
                exc |= UE;
            }
        }

        if ((q >> p) != 0)
        {
            // Rounding carried out of the significand: q is exactly 2^p.
            q >>= 1;
            lsbExp++;
        }

        ulong r = (ulong)q;
        if (r == 0)
        {
            biased = 0;
            return 0;
        }

        int top = 63 - BitOperations.LeadingZeroCount(r);
        if (top < p - 1)
        {
            biased = 0; // denormal
            return r;
        }

        if (lsbExp + top > eMax)
        {
            bool toInfinity = rc == RoundNearest || (rc == RoundUp && !negative) || (rc == RoundDown && negative);
            exc = (exc & ~RoundedUp) | OE | PE | (toInfinity ? RoundedUp : 0);
            biased = toInfinity ? 2 * bias + 1 : 2 * bias;
            ulong ones = p == 64 ? ulong.MaxValue : (1UL << p) - 1;
            return toInfinity ? (p == 64 ? IntegerBit : 0) : ones;
        }

        biased = lsbExp + top + bias;
        return r;
    }

    /// <summary>Whether normalised <paramref name="sig"/> rounded to <paramref name="p"/> bits with an unbounded exponent carries to the next power of two.</summary>
    private static bool RoundsToPowerOfTwo(UInt128 sig, int p, bool negative, int rc)
    {
        int shift = 128 - p;
        var q = sig >> shift;
        var rem = sig & ((UInt128.One << shift) - 1);
        var h = UInt128.One << (shift - 1);
        bool up = rc switch
        {
            RoundNearest => rem > h || (rem == h && (q & 1) != 0),
            RoundDown => negative && rem != 0,
            RoundUp => !negative && rem != 0,
            _ => false,
        };
        return up && (q + 1) >> p != 0;
    }

    /// <summary>
    /// An 80-bit value of sign * <paramref name="sig"/> * 2^(<paramref name="e"/> - 127) (any
    /// sig), rounded to <paramref name="p"/> bits (the precision control: 24, 53 or 64) in the
    /// 80-bit exponent range.
    /// </summary>
    public static Float80 PackWide(bool negative, int e, UInt128 sig, int p, int rc, ref uint exc)
    {
        if (sig == 0)
        {
            return Zero(negative);
        }

        int lz = (int)UInt128.LeadingZeroCount(sig);
        if ((exc & (WrapOverflow | WrapUnderflow)) != 0 && Wrapped(negative, e, sig, lz, p, rc, ref exc) is { } wrapped)
        {
            return wrapped;
        }

        ulong q = RoundWide(negative, e - lz, sig << lz, p, Bias, rc, ref exc, out int biased);
        int sign = negative ? 0x8000 : 0;
        if (biased == 0x7FFF)
        {
            return Infinity(negative);
        }

        return Make(q << (64 - p), sign | biased);
    }

    /// <summary>
    /// The unmasked overflow and underflow responses of arithmetic into a register (SDM Vol. 1
    /// 4.9.1.4, 4.9.1.5): the correctly rounded result with its exponent brought back into
    /// range by 2^24576, with OE, or with UE whenever the result is tiny (exact or not). Null
    /// when the result neither overflows nor is tiny, or that exception is masked.
    /// </summary>
    private static Float80? Wrapped(bool negative, int e, UInt128 sig, int lz, int p, int rc, ref uint exc)
    {
        int en = e - lz;
        var s = sig << lz;
        uint probe = 0;
        RoundWide(negative, en, s, p, Bias, rc, ref probe, out _);
        bool overflow = (probe & OE) != 0 && (exc & WrapOverflow) != 0;
        bool tiny = en < 1 - Bias && !(en == -Bias && RoundsToPowerOfTwo(s, p, negative, rc)) && (exc & WrapUnderflow) != 0;
        if (!overflow && !tiny)
        {
            return null;
        }

        uint adjusted = 0;
        var r = PackWide(negative, overflow ? e - WrapBias : e + WrapBias, sig, p, rc, ref adjusted);
        exc |= (adjusted & (PE | RoundedUp)) | (overflow ? OE : UE);
        return r;
    }

    /// <summary>Packs a finite value m * 2^(e - 63) (any m) as an 80-bit one, rounding to 64 bits.</summary>
    public static Float80 Pack80(bool negative, int e, ulong m, bool sticky, int rc, ref uint exc) =>
        m == 0 && !sticky ? Zero(negative) : PackWide(negative, e, ((UInt128)m << 64) | (sticky ? UInt128.One : UInt128.Zero), 64, rc, ref exc);

    /// <summary>An exact 80-bit value of a signed integer (FILD).</summary>
    public static Float80 FromInt64(long v)
    {
        if (v == 0)
        {
            return Zero(false);
        }

        bool neg = v < 0;
        ulong mag = neg ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        int lz = BitOperations.LeadingZeroCount(mag);
        return Make(mag << lz, (neg ? 0x8000 : 0) | (63 - lz + Bias));
    }

    /// <summary>An exact 80-bit value of a double (FLD m64); an SNaN stays signalling.</summary>
    public static Float80 FromDouble(ulong bits, ref uint exc) => FromIeee(bits, 52, 11, ref exc);

    /// <summary>An exact 80-bit value of a single (FLD m32).</summary>
    public static Float80 FromSingle(uint bits, ref uint exc) => FromIeee(bits, 23, 8, ref exc);

    private static Float80 FromIeee(ulong bits, int fracBits, int expBits, ref uint exc)
    {
        bool neg = (bits >> (fracBits + expBits)) != 0;
        int sign = neg ? 0x8000 : 0;
        int emax = (1 << expBits) - 1;
        int bias = emax >> 1;
        int e = (int)(bits >> fracBits) & emax;
        ulong frac = bits & ((1UL << fracBits) - 1);
        if (e == emax)
        {
            return Make(IntegerBit | (frac << (63 - fracBits)), sign | 0x7FFF);
        }

        if (e == 0)
        {
            if (frac == 0)
            {
                return Zero(neg);
            }

            exc |= DE;
            int lz = BitOperations.LeadingZeroCount(frac);
            // frac * 2^(1 - bias - fracBits) = (frac << lz) * 2^(E - 63)
            return Make(frac << lz, sign | (1 - bias - fracBits - lz + 63 + Bias));
        }

        return Make(IntegerBit | (frac << (63 - fracBits)), sign | (e - bias + Bias));
    }

    /// <summary>
    /// Rounds a value to single (p = 24) or double (p = 53) bits (FST m32/m64, SDM Vol. 1 4.9.1):
    /// NaNs keep their sign and top payload bits and are quieted (IE for an SNaN).
    /// </summary>
    public static ulong ToIeee(in Float80 v, bool isDouble, int rc, ref uint exc)
    {
        int fracBits = isDouble ? 52 : 23;
        int expBits = isDouble ? 11 : 8;
        int bias = (1 << (expBits - 1)) - 1;
        bool neg = Sign(v);
        ulong sign = neg ? 1UL << (fracBits + expBits) : 0;
        ulong expAll = ((1UL << expBits) - 1) << fracBits;
        switch (Classify(v))
        {
            case F80Class.Zero:
                return sign;
            case F80Class.Infinity:
                return sign | expAll;
            case F80Class.SNaN:
            case F80Class.QNaN:
                if ((v.Mantissa & QuietBit) == 0)
                {
                    exc |= IE;
                }

                return sign | expAll | ((v.Mantissa << 1) >> (64 - fracBits)) | (1UL << (fracBits - 1));
            case F80Class.Unsupported:
                exc |= IE;
                return isDouble ? 0xFFF8_0000_0000_0000UL : 0xFFC0_0000UL;
        }

        // A denormal source raises no DE here: FST lists no #D (checked against hardware).

        Unpack(v, out int e, out ulong m);
        ulong q = Round(neg, e, m, false, fracBits + 1, bias, rc, ref exc, out int biased);
        return sign | ((ulong)biased << fracBits) | (q & ((1UL << fracBits) - 1));
    }

    public static double ToDouble(in Float80 v)
    {
        uint exc = 0;
        return BitConverter.UInt64BitsToDouble(ToIeee(v, true, RoundNearest, ref exc));
    }

    public static Float80 FromDouble(double d)
    {
        uint exc = 0;
        return FromDouble(BitConverter.DoubleToUInt64Bits(d), ref exc);
    }

    /// <summary>
    /// The integer value of a finite value rounded by <paramref name="rc"/>, as a magnitude, or
    /// false when it does not fit 64 bits. Adds PE to <paramref name="exc"/> when bits were
    /// lost, and RoundedUp when the magnitude was rounded up.
    /// </summary>
    public static bool RoundToInteger(in Float80 v, int rc, out ulong magnitude, ref uint exc)
    {
        magnitude = 0;
        if (Classify(v) == F80Class.Zero)
        {
            return true;
        }

        Unpack(v, out int e, out ulong m);
        if (e > 63)
        {
            return false;
        }

        magnitude = ShiftRound(m, 63 - e, Sign(v), rc, out bool inexact, out bool up);
        exc |= (inexact ? PE : 0) | (up ? RoundedUp : 0);
        return true;
    }
}

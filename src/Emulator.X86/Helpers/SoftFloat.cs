using System.Numerics;

namespace Emulator.X86.Helpers;

/// <summary>MXCSR bits (SDM Vol. 1 10.2.3): six sticky exception flags, DAZ, six masks, RC, FTZ.</summary>
public static class MxcsrBits
{
    public const uint IE = 1 << 0;
    public const uint DE = 1 << 1;
    public const uint ZE = 1 << 2;
    public const uint OE = 1 << 3;
    public const uint UE = 1 << 4;
    public const uint PE = 1 << 5;

    /// <summary>All six exception flags; the matching mask bits are these shifted left by <see cref="MaskShift"/>.</summary>
    public const uint Flags = 0x3f;

    /// <summary>Invalid, denormal and divide-by-zero are detected before the result is computed (SDM Vol. 1 11.5.2).</summary>
    public const uint PreComputation = IE | DE | ZE;

    public const uint Daz = 1 << 6;
    public const int MaskShift = 7;
    public const int RoundingShift = 13;
    public const uint Ftz = 1 << 15;

    /// <summary>Power-on value: all exceptions masked, round to nearest.</summary>
    public const uint Default = 0x1f80;
}

/// <summary>MXCSR.RC (SDM Vol. 1 4.8.4, Table 4-8).</summary>
public enum IeeeRounding : uint
{
    Nearest = 0,
    Down = 1,
    Up = 2,
    TowardZero = 3,
}

/// <summary>An IEEE binary interchange format, as bit fields of a ulong.</summary>
public readonly struct IeeeFormat
{
    public IeeeFormat(int fracBits, int expBits)
    {
        FracBits = fracBits;
        MaxBiased = (1 << expBits) - 1;
        Bias = (1 << (expBits - 1)) - 1;
        SignBit = 1UL << (fracBits + expBits);
        ExpField = (ulong)MaxBiased << fracBits;
        FracMask = (1UL << fracBits) - 1;
        QuietBit = 1UL << (fracBits - 1);
    }

    public int FracBits { get; }

    /// <summary>The all-ones biased exponent (infinities and NaNs).</summary>
    public int MaxBiased { get; }

    public int Bias { get; }

    public ulong SignBit { get; }

    public ulong ExpField { get; }

    public ulong FracMask { get; }

    public ulong QuietBit { get; }

    /// <summary>The "real indefinite" QNaN that invalid operations return (SDM Vol. 1 4.8.3.7): sign set, quiet bit set.</summary>
    public ulong DefaultNaN => SignBit | ExpField | QuietBit;

    public ulong Infinity => ExpField;

    public ulong MaxFinite => ExpField - 1;
}

/// <summary>
/// A software IEEE 754 layer with x86 SSE semantics (SDM Vol. 1 4.8 and 4.9, 11.5): exact results
/// in the four MXCSR rounding modes, the six exception flags, DAZ and FTZ, and SSE's NaN rules.
/// Operations work on bit patterns in a ulong and accumulate MXCSR flag bits in a ref uint; they
/// never look at masks except where the result itself depends on one (FTZ applies only with
/// underflow masked; an unmasked underflow is reported even when exact).
///
/// A finite non-zero operand is unpacked to (exponent, significand) with the significand's leading
/// one at bit 62, so value = sig * 2^(exp - 62) for both formats. Bits below the format's last
/// place are guard bits; operations fold any further lost bits into bit 0 (sticky), which is
/// enough to round correctly because every rounding boundary lies on an even bit position.
/// </summary>
public static partial class SoftFloat
{
    public static readonly IeeeFormat F32 = new(23, 8);
    public static readonly IeeeFormat F64 = new(52, 11);

    public static bool IsNaN(in IeeeFormat f, ulong a) => (a & ~f.SignBit) > f.ExpField;

    public static bool IsSNaN(in IeeeFormat f, ulong a) => IsNaN(in f, a) && (a & f.QuietBit) == 0;

    public static bool IsInf(in IeeeFormat f, ulong a) => (a & ~f.SignBit) == f.ExpField;

    public static bool IsZero(in IeeeFormat f, ulong a) => (a & ~f.SignBit) == 0;

    public static bool IsDenormal(in IeeeFormat f, ulong a) => (a & f.ExpField) == 0 && (a & f.FracMask) != 0;

    public static bool IsNegative(in IeeeFormat f, ulong a) => (a & f.SignBit) != 0;

    public static IeeeRounding Rounding(uint mxcsr) => (IeeeRounding)((mxcsr >> MxcsrBits.RoundingShift) & 3);

    /// <summary>DAZ: a denormal source becomes a zero of the same sign, and signals nothing (SDM Vol. 1 10.2.3.4).</summary>
    public static ulong FlushInput(in IeeeFormat f, ulong a, uint mxcsr) =>
        (mxcsr & MxcsrBits.Daz) != 0 && IsDenormal(in f, a) ? a & f.SignBit : a;

    /// <summary>
    /// The NaN result of a two-source operation (SDM Vol. 1 Table 4-7, SSE column): the first source
    /// if it is a NaN, else the second, made quiet; invalid if either is a signaling NaN.
    /// </summary>
    public static ulong PropagateNaN(in IeeeFormat f, ulong a, ulong b, ref uint flags)
    {
        if (IsSNaN(in f, a) || IsSNaN(in f, b))
        {
            flags |= MxcsrBits.IE;
        }

        return (IsNaN(in f, a) ? a : b) | f.QuietBit;
    }

    /// <summary>The zero that an exact cancellation x - x produces: -0 when rounding down, else +0 (IEEE 754 6.3).</summary>
    public static ulong CancellationZero(in IeeeFormat f, uint mxcsr) => Rounding(mxcsr) == IeeeRounding.Down ? f.SignBit : 0;

    /// <summary>Unpacks a finite non-zero value: returns exp with value = sig * 2^(exp - 62), sig's leading one at bit 62.</summary>
    public static int Unpack(in IeeeFormat f, ulong a, out ulong sig)
    {
        int biased = (int)((a & f.ExpField) >> f.FracBits);
        ulong frac = a & f.FracMask;
        if (biased == 0)
        {
            int lz = BitOperations.LeadingZeroCount(frac);
            sig = frac << (lz - 1);
            return 1 - f.Bias - f.FracBits + 63 - lz;
        }

        sig = (frac | (1UL << f.FracBits)) << (62 - f.FracBits);
        return biased - f.Bias;
    }

    /// <summary>
    /// Drops the low <paramref name="shift"/> bits of <paramref name="sig"/> (below 2^63), rounding the
    /// quotient per <paramref name="rc"/> for a value of the given sign; the quotient may carry one bit up.
    /// </summary>
    public static ulong RoundShift(ulong sig, int shift, bool negative, IeeeRounding rc, out bool inexact)
    {
        ulong q;
        bool nearestUp;
        if (shift <= 0)
        {
            inexact = false;
            return sig;
        }

        if (shift < 64)
        {
            q = sig >> shift;
            ulong rem = sig & ((1UL << shift) - 1);
            if (rem == 0)
            {
                inexact = false;
                return q;
            }

            ulong half = 1UL << (shift - 1);
            nearestUp = rem > half || (rem == half && (q & 1) != 0);
        }
        else
        {
            // Everything is below half of the last place kept.
            q = 0;
            if (sig == 0)
            {
                inexact = false;
                return 0;
            }

            nearestUp = false;
        }

        inexact = true;
        bool up = rc switch
        {
            IeeeRounding.Nearest => nearestUp,
            IeeeRounding.Down => negative,
            IeeeRounding.Up => !negative,
            _ => false,
        };
        return up ? q + 1 : q;
    }

    /// <summary>
    /// Rounds sig * 2^(exp - 62) (sig's leading one at bit 62, any lost bits folded into bit 0) to
    /// format <paramref name="f"/> per MXCSR: overflow (SDM Vol. 1 4.9.1.4), underflow with
    /// tininess detected after rounding, i.e. on the result rounded with an unbounded exponent
    /// (4.9.1.5), flush-to-zero when underflow is masked (10.2.3.3), inexact (4.9.1.6).
    /// </summary>
    public static ulong RoundPack(in IeeeFormat f, bool negative, int exp, ulong sig, uint mxcsr, ref uint flags)
    {
        var rc = Rounding(mxcsr);
        ulong sign = negative ? f.SignBit : 0;
        int extra = 62 - f.FracBits;
        int biased = exp + f.Bias;
        ulong full = RoundShift(sig, extra, negative, rc, out bool inexactFull);
        if (biased >= 1)
        {
            if (full >> (f.FracBits + 1) != 0)
            {
                full >>= 1;
                biased++;
            }

            if (biased >= f.MaxBiased)
            {
                flags |= MxcsrBits.OE | MxcsrBits.PE;
                return sign | OverflowResult(in f, negative, rc);
            }

            if (inexactFull)
            {
                flags |= MxcsrBits.PE;
            }

            return sign | ((ulong)biased << f.FracBits) | (full & f.FracMask);
        }

        // Below 2^emin before rounding. Tiny unless rounding at full precision carries up to 2^emin.
        bool tiny = biased < 0 || full >> (f.FracBits + 1) == 0;
        int subShift = biased < -200 ? 200 : extra + 1 - biased;
        ulong sub = RoundShift(sig, subShift, negative, rc, out bool inexactSub);
        if (!tiny)
        {
            // Rounds to the smallest normal; a carry into the exponent field packs it.
            if (inexactSub)
            {
                flags |= MxcsrBits.PE;
            }

            return sign | sub;
        }

        bool underflowMasked = (mxcsr & (MxcsrBits.UE << MxcsrBits.MaskShift)) != 0;
        if (!underflowMasked)
        {
            // Unmasked: reported even when exact; the destination is not written.
            flags |= MxcsrBits.UE | (inexactFull ? MxcsrBits.PE : 0);
            return sign | sub;
        }

        if ((mxcsr & MxcsrBits.Ftz) != 0)
        {
            flags |= MxcsrBits.UE | MxcsrBits.PE;
            return sign;
        }

        if (inexactSub)
        {
            flags |= MxcsrBits.UE | MxcsrBits.PE;
        }

        return sign | sub;
    }

    /// <summary>The masked overflow result by rounding mode (SDM Vol. 1 Table 4-10): infinity or the largest finite value.</summary>
    private static ulong OverflowResult(in IeeeFormat f, bool negative, IeeeRounding rc)
    {
        bool toInfinity = rc switch
        {
            IeeeRounding.Nearest => true,
            IeeeRounding.Down => negative,
            IeeeRounding.Up => !negative,
            _ => false,
        };
        return toInfinity ? f.Infinity : f.MaxFinite;
    }

    /// <summary>
    /// A finite operand passed through unchanged (x + 0, x * 1 ...) still goes through rounding so
    /// that a denormal result is flushed by FTZ or reported to an unmasked underflow handler.
    /// </summary>
    public static ulong Repack(in IeeeFormat f, ulong a, uint mxcsr, ref uint flags)
    {
        if (!IsDenormal(in f, a))
        {
            return a;
        }

        int e = Unpack(in f, a, out ulong sig);
        return RoundPack(in f, IsNegative(in f, a), e, sig, mxcsr, ref flags);
    }
}

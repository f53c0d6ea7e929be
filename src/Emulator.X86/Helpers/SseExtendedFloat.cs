using System.Numerics;
using Emulator.Ir;

namespace Emulator.X86.Helpers;

/// <summary>
/// Floating-point instructions of SSE3 (ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD) and SSE4.1
/// (DPPS, DPPD, ROUNDPS/PD/SS/SD), on the same soft float and commit rule as SseFloatArith:
/// every element first, then MXCSR flags, then #XM for an unmasked exception with the
/// destination unwritten. Each helper is op(dst offset, src offset, shape or imm, imm).
/// </summary>
public static unsafe class SseExtendedFloat
{
    /// <summary>addsub(dst, src, shape): even elements dst - src, odd elements dst + src.</summary>
    public static readonly HelperInfo AddSub = HelperTable.Define("ssefp_addsub", 4, SseFloat.Effects, &AddSubImpl, generalState: false);

    /// <summary>hadd(dst, src, shape): adjacent pairs of dst, then of src, added.</summary>
    public static readonly HelperInfo HAdd = HelperTable.Define("ssefp_hadd", 4, SseFloat.Effects, &HAddImpl, generalState: false);

    /// <summary>hsub(dst, src, shape): adjacent pairs of dst, then of src, the second subtracted from the first.</summary>
    public static readonly HelperInfo HSub = HelperTable.Define("ssefp_hsub", 4, SseFloat.Effects, &HSubImpl, generalState: false);

    /// <summary>dp(dst, src, shape, imm): DPPS/DPPD, the dot product of the elements imm[7:4] selects, written where imm[3:0] says (SDM Vol. 2A DPPS).</summary>
    public static readonly HelperInfo DotProduct = HelperTable.Define("ssefp_dp", 4, SseFloat.Effects, &DotProductImpl, generalState: false);

    /// <summary>round(dst, src, shape, imm): ROUNDPS/PD/SS/SD (SDM Vol. 2B ROUNDPD): imm[2] uses MXCSR.RC, else imm[1:0]; imm[3] suppresses the precision exception.</summary>
    public static readonly HelperInfo Round = HelperTable.Define("ssefp_round", 4, SseFloat.Effects, &RoundImpl, generalState: false);

    private static ulong AddSubImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) =>
        Pairwise(cpu, dst, src, (SseFpShape)shape, static (in IeeeFormat f, ulong* d, ulong* s, int i, uint mxcsr, ref uint flags) =>
            SoftFloat.Add(in f, Element(in f, d, i), Element(in f, s, i), subtract: (i & 1) == 0, mxcsr, ref flags));

    private static ulong HAddImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) =>
        Pairwise(cpu, dst, src, (SseFpShape)shape, static (in IeeeFormat f, ulong* d, ulong* s, int i, uint mxcsr, ref uint flags) =>
            Horizontal(in f, d, s, i, subtract: false, mxcsr, ref flags));

    private static ulong HSubImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) =>
        Pairwise(cpu, dst, src, (SseFpShape)shape, static (in IeeeFormat f, ulong* d, ulong* s, int i, uint mxcsr, ref uint flags) =>
            Horizontal(in f, d, s, i, subtract: true, mxcsr, ref flags));

    private delegate ulong ElementOp(in IeeeFormat f, ulong* d, ulong* s, int i, uint mxcsr, ref uint flags);

    private static ulong Element(in IeeeFormat f, ulong* v, int i) => f.FracBits == 23 ? ((uint*)v)[i] : v[i];

    /// <summary>Element i of HADD/HSUB: the low half of the result from dst's pairs, the high half from src's.</summary>
    private static ulong Horizontal(in IeeeFormat f, ulong* d, ulong* s, int i, bool subtract, uint mxcsr, ref uint flags)
    {
        int lanes = f.FracBits == 23 ? 4 : 2;
        ulong* from = i < lanes / 2 ? d : s;
        int k = 2 * (i % (lanes / 2));
        return SoftFloat.Add(in f, Element(in f, from, k), Element(in f, from, k + 1), subtract, mxcsr, ref flags);
    }

    private static ulong Pairwise(Cpu cpu, ulong dstOffset, ulong srcOffset, SseFpShape shape, ElementOp op)
    {
        var dst = (ulong*)SseFloat.At(cpu, dstOffset);
        var src = (ulong*)SseFloat.At(cpu, srcOffset);
        uint mxcsr = cpu.S.Mxcsr;
        uint flags = 0;
        ulong* result = stackalloc ulong[2];
        bool single = SseFloat.IsSingle(shape);
        var f = single ? SoftFloat.F32 : SoftFloat.F64;
        for (int i = 0; i < (single ? 4 : 2); i++)
        {
            ulong r = op(in f, dst, src, i, mxcsr, ref flags);
            if (single)
            {
                ((uint*)result)[i] = (uint)r;
            }
            else
            {
                result[i] = r;
            }
        }

        if (SseFloat.Commit(cpu, flags))
        {
            SseFloat.Store((byte*)dst, result);
        }

        return 0;
    }

    private static ulong DotProductImpl(Cpu cpu, ulong dstOffset, ulong srcOffset, ulong shape, ulong imm)
    {
        var dst = (ulong*)SseFloat.At(cpu, dstOffset);
        var src = (ulong*)SseFloat.At(cpu, srcOffset);
        uint mxcsr = cpu.S.Mxcsr;
        uint flags = 0;
        ulong* result = stackalloc ulong[2];
        if (SseFloat.IsSingle((SseFpShape)shape))
        {
            var f = SoftFloat.F32;
            ulong* t = stackalloc ulong[4];
            for (int i = 0; i < 4; i++)
            {
                t[i] = ((imm >> (4 + i)) & 1) != 0 ? SoftFloat.Mul(in f, ((uint*)dst)[i], ((uint*)src)[i], mxcsr, ref flags) : 0;
            }

            ulong t2 = SoftFloat.Add(in f, t[0], t[1], false, mxcsr, ref flags);
            ulong t3 = SoftFloat.Add(in f, t[2], t[3], false, mxcsr, ref flags);
            ulong sum = SoftFloat.Add(in f, t2, t3, false, mxcsr, ref flags);
            for (int i = 0; i < 4; i++)
            {
                ((uint*)result)[i] = ((imm >> i) & 1) != 0 ? (uint)sum : 0;
            }
        }
        else
        {
            var f = SoftFloat.F64;
            ulong t0 = ((imm >> 4) & 1) != 0 ? SoftFloat.Mul(in f, dst[0], src[0], mxcsr, ref flags) : 0;
            ulong t1 = ((imm >> 5) & 1) != 0 ? SoftFloat.Mul(in f, dst[1], src[1], mxcsr, ref flags) : 0;
            ulong sum = SoftFloat.Add(in f, t0, t1, false, mxcsr, ref flags);
            result[0] = (imm & 1) != 0 ? sum : 0;
            result[1] = (imm & 2) != 0 ? sum : 0;
        }

        if (SseFloat.Commit(cpu, flags))
        {
            SseFloat.Store((byte*)dst, result);
        }

        return 0;
    }

    private static ulong RoundImpl(Cpu cpu, ulong dstOffset, ulong srcOffset, ulong shapeValue, ulong imm)
    {
        var shape = (SseFpShape)shapeValue;
        var dst = (ulong*)SseFloat.At(cpu, dstOffset);
        var src = (ulong*)SseFloat.At(cpu, srcOffset);
        uint mxcsr = cpu.S.Mxcsr;
        var rc = (imm & 4) != 0 ? SoftFloat.Rounding(mxcsr) : (IeeeRounding)(imm & 3);
        bool suppressPrecision = (imm & 8) != 0;
        uint flags = 0;
        ulong* result = stackalloc ulong[2];
        result[0] = dst[0];
        result[1] = dst[1];
        if (SseFloat.IsSingle(shape))
        {
            var f = SoftFloat.F32;
            for (int i = 0; i < SseFloat.Lanes(shape); i++)
            {
                ((uint*)result)[i] = (uint)RoundToIntegral(in f, ((uint*)src)[i], rc, mxcsr, ref flags);
            }
        }
        else
        {
            var f = SoftFloat.F64;
            for (int i = 0; i < SseFloat.Lanes(shape); i++)
            {
                result[i] = RoundToIntegral(in f, src[i], rc, mxcsr, ref flags);
            }
        }

        if (suppressPrecision)
        {
            flags &= ~MxcsrBits.PE;
        }

        if (SseFloat.Commit(cpu, flags))
        {
            SseFloat.Store((byte*)dst, result);
        }

        return 0;
    }

    /// <summary>
    /// Rounds to an integral value in the same format: NaNs made quiet (invalid for a signaling
    /// one), infinities, zeros and values of 2^fracBits and beyond unchanged, inexact when the
    /// value changed. DAZ applies to a denormal source; no other exception is possible.
    /// </summary>
    public static ulong RoundToIntegral(in IeeeFormat f, ulong a, IeeeRounding rc, uint mxcsr, ref uint flags)
    {
        if (SoftFloat.IsNaN(in f, a))
        {
            if (SoftFloat.IsSNaN(in f, a))
            {
                flags |= MxcsrBits.IE;
            }

            return a | f.QuietBit;
        }

        a = SoftFloat.FlushInput(in f, a, mxcsr);
        if (SoftFloat.IsZero(in f, a) || SoftFloat.IsInf(in f, a))
        {
            return a;
        }

        int exp = SoftFloat.Unpack(in f, a, out ulong sig);
        if (exp >= f.FracBits)
        {
            return a;
        }

        bool negative = SoftFloat.IsNegative(in f, a);
        ulong n = SoftFloat.RoundShift(sig, 62 - exp, negative, rc, out bool inexact);
        if (inexact)
        {
            flags |= MxcsrBits.PE;
        }

        ulong sign = a & f.SignBit;
        if (n == 0)
        {
            return sign;
        }

        int msb = 63 - BitOperations.LeadingZeroCount(n);
        ulong biased = (ulong)(msb + f.Bias);
        return sign | (biased << f.FracBits) | ((n << (f.FracBits - msb)) & f.FracMask);
    }
}

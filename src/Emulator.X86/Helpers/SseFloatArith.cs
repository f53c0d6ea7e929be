using Emulator.Ir;

namespace Emulator.X86.Helpers;

/// <summary>
/// ADD/SUB/MUL/DIV/MIN/MAX/SQRT in PS/PD/SS/SD forms, and the RCP/RSQRT approximations. Each helper
/// is op(dst offset, src offset, shape): dst = dst op src element-wise (SQRT: dst = sqrt(src)),
/// the scalar forms keeping the destination's other elements.
/// </summary>
public static unsafe class SseFloatArith
{
    private enum Op
    {
        Add,
        Sub,
        Mul,
        Div,
        Min,
        Max,
        Sqrt,
        Rcp,
        Rsqrt,
    }

    public static readonly HelperInfo Add = HelperTable.Define("ssefp_add", 4, SseFloat.Effects, &AddImpl, generalState: false);
    public static readonly HelperInfo Sub = HelperTable.Define("ssefp_sub", 4, SseFloat.Effects, &SubImpl, generalState: false);
    public static readonly HelperInfo Mul = HelperTable.Define("ssefp_mul", 4, SseFloat.Effects, &MulImpl, generalState: false);
    public static readonly HelperInfo Div = HelperTable.Define("ssefp_div", 4, SseFloat.Effects, &DivImpl, generalState: false);
    public static readonly HelperInfo Min = HelperTable.Define("ssefp_min", 4, SseFloat.Effects, &MinImpl, generalState: false);
    public static readonly HelperInfo Max = HelperTable.Define("ssefp_max", 4, SseFloat.Effects, &MaxImpl, generalState: false);
    public static readonly HelperInfo Sqrt = HelperTable.Define("ssefp_sqrt", 4, SseFloat.Effects, &SqrtImpl, generalState: false);
    public static readonly HelperInfo Rcp = HelperTable.Define("ssefp_rcp", 4, SseFloat.Effects, &RcpImpl, generalState: false);
    public static readonly HelperInfo Rsqrt = HelperTable.Define("ssefp_rsqrt", 4, SseFloat.Effects, &RsqrtImpl, generalState: false);

    private static ulong AddImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Add);

    private static ulong SubImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Sub);

    private static ulong MulImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Mul);

    private static ulong DivImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Div);

    private static ulong MinImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Min);

    private static ulong MaxImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Max);

    private static ulong SqrtImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Sqrt);

    private static ulong RcpImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Rcp);

    private static ulong RsqrtImpl(Cpu cpu, ulong dst, ulong src, ulong shape, ulong unused) => Run(cpu, dst, src, (SseFpShape)shape, Op.Rsqrt);

    private static ulong Run(Cpu cpu, ulong dstOffset, ulong srcOffset, SseFpShape shape, Op op)
    {
        byte* dst = SseFloat.At(cpu, dstOffset);
        byte* src = SseFloat.At(cpu, srcOffset);
        uint mxcsr = cpu.S.Mxcsr;
        uint flags = 0;
        ulong* result = stackalloc ulong[2];
        result[0] = ((ulong*)dst)[0];
        result[1] = ((ulong*)dst)[1];
        int lanes = SseFloat.Lanes(shape);
        if (SseFloat.IsSingle(shape))
        {
            for (int i = 0; i < lanes; i++)
            {
                ((uint*)result)[i] = (uint)Apply(in SoftFloat.F32, op, ((uint*)dst)[i], ((uint*)src)[i], mxcsr, ref flags);
            }
        }
        else
        {
            for (int i = 0; i < lanes; i++)
            {
                result[i] = Apply(in SoftFloat.F64, op, ((ulong*)dst)[i], ((ulong*)src)[i], mxcsr, ref flags);
            }
        }

        if (SseFloat.Commit(cpu, flags))
        {
            SseFloat.Store(dst, result);
        }

        return 0;
    }

    private static ulong Apply(in IeeeFormat f, Op op, ulong a, ulong b, uint mxcsr, ref uint flags) => op switch
    {
        Op.Add => SoftFloat.Add(in f, a, b, false, mxcsr, ref flags),
        Op.Sub => SoftFloat.Add(in f, a, b, true, mxcsr, ref flags),
        Op.Mul => SoftFloat.Mul(in f, a, b, mxcsr, ref flags),
        Op.Div => SoftFloat.Div(in f, a, b, mxcsr, ref flags),
        Op.Min => SoftFloat.MinMax(in f, a, b, false, mxcsr, ref flags),
        Op.Max => SoftFloat.MinMax(in f, a, b, true, mxcsr, ref flags),
        Op.Sqrt => SoftFloat.Sqrt(in f, b, mxcsr, ref flags),
        Op.Rcp => Reciprocal((uint)b),
        _ => ReciprocalSqrt((uint)b),
    };

    /// <summary>
    /// RCPSS: an approximation of 1/x with relative error at most 1.5 * 2^-12 (SDM Vol. 2 RCPSS).
    /// The exact reciprocal rounded to 12 significant bits: real processors use their own tables
    /// and differ from this and from each other, so differential tests must exclude RCP/RSQRT
    /// results. Denormal inputs count as zero; tiny results flush to zero; NaNs are made quiet;
    /// no exception is ever reported; MXCSR.RC is ignored.
    /// </summary>
    public static uint Reciprocal(uint x)
    {
        var f = SoftFloat.F32;
        if (SoftFloat.IsNaN(in f, x))
        {
            return x | (uint)f.QuietBit;
        }

        uint sign = x & 0x8000_0000u;
        if (SoftFloat.IsZero(in f, x) || SoftFloat.IsDenormal(in f, x))
        {
            return sign | 0x7f80_0000u;
        }

        if (SoftFloat.IsInf(in f, x))
        {
            return sign;
        }

        return Approximate(1.0 / BitConverter.Int32BitsToSingle((int)x));
    }

    /// <summary>RSQRTSS: 1/sqrt(x) within 1.5 * 2^-12 (see <see cref="Reciprocal"/>); negative non-zero x gives the default NaN, -0 gives -inf.</summary>
    public static uint ReciprocalSqrt(uint x)
    {
        var f = SoftFloat.F32;
        if (SoftFloat.IsNaN(in f, x))
        {
            return x | (uint)f.QuietBit;
        }

        uint sign = x & 0x8000_0000u;
        if (SoftFloat.IsZero(in f, x) || SoftFloat.IsDenormal(in f, x))
        {
            return sign | 0x7f80_0000u;
        }

        if (sign != 0)
        {
            return (uint)f.DefaultNaN;
        }

        if (SoftFloat.IsInf(in f, x))
        {
            return 0;
        }

        return Approximate(1.0 / Math.Sqrt(BitConverter.Int32BitsToSingle((int)x)));
    }

    /// <summary>Rounds to 12 significant bits (error at most 2^-12 plus the double's 2^-53); below the normal range gives zero.</summary>
    private static uint Approximate(double v)
    {
        double mag = Math.Abs(v);
        uint sign = v < 0 ? 0x8000_0000u : 0;
        if (mag < 1.1754943508222875e-38)
        {
            return sign;
        }

        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(mag);
        bits = (bits + (1UL << 40)) & ~((1UL << 41) - 1);
        return sign | (uint)BitConverter.SingleToInt32Bits((float)BitConverter.Int64BitsToDouble((long)bits));
    }
}

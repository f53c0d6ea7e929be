using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>The register-to-register conversions of SSE/SSE2 (SDM Vol. 2 CVT*).</summary>
public enum SseFpConversion : ulong
{
    Ss2Sd,
    Sd2Ss,
    Ps2Pd,
    Pd2Ps,
    Dq2Ps,
    Ps2Dq,
    Tps2Dq,
    Dq2Pd,
    Pd2Dq,
    Tpd2Dq,
    Pi2Ps,
    Pi2Pd,
    Ps2Pi,
    Tps2Pi,
    Pd2Pi,
    Tpd2Pi,
}

/// <summary>CVT* between floats and integers and between the two float formats; LDMXCSR.</summary>
public static unsafe class SseFloatConvert
{
    /// <summary>sse_cvt(dst, src, conversion, mmx): converts per <see cref="SseFpConversion"/>; mmx != 0 when the source is an MMX register.</summary>
    public static readonly HelperInfo Cvt = HelperTable.Define("ssefp_cvt", 4, SseFloat.Effects, &CvtImpl, generalState: false);

    /// <summary>sse_cvt_to_int(src, mode): the low float of src as an integer (mode: <see cref="FromDouble"/>, <see cref="Truncate"/>, <see cref="Int64"/>).</summary>
    public static readonly HelperInfo ToInt = HelperTable.Define("ssefp_cvt_to_int", 4, SseFloat.Effects, &ToIntImpl, generalState: false);

    /// <summary>sse_cvt_from_int(dst, value, mode): the low element of dst becomes the integer as a float (mode: <see cref="ToDouble"/>, <see cref="Int64"/>).</summary>
    public static readonly HelperInfo FromInt = HelperTable.Define("ssefp_cvt_from_int", 4, SseFloat.Effects, &FromIntImpl, generalState: false);

    /// <summary>ldmxcsr(value): #GP(0) when a reserved bit is set (SDM Vol. 2 LDMXCSR), else MXCSR = value.</summary>
    public static readonly HelperInfo Ldmxcsr = HelperTable.Define("ssefp_ldmxcsr", 4, OpFlags.ReadsState | OpFlags.WritesState | OpFlags.MayFault, &LdmxcsrImpl);

    public const ulong FromDouble = 1;
    public const ulong ToDouble = 1;
    public const ulong Truncate = 2;
    public const ulong Int64 = 4;

    private static ulong ToIntImpl(Cpu cpu, ulong srcOffset, ulong mode, ulong unused1, ulong unused2)
    {
        byte* src = SseFloat.At(cpu, srcOffset);
        uint flags = 0;
        int bits = (mode & Int64) != 0 ? 64 : 32;
        bool truncate = (mode & Truncate) != 0;
        ulong v = (mode & FromDouble) != 0
            ? SoftFloat.ToInt(in SoftFloat.F64, *(ulong*)src, bits, truncate, cpu.S.Mxcsr, ref flags)
            : SoftFloat.ToInt(in SoftFloat.F32, *(uint*)src, bits, truncate, cpu.S.Mxcsr, ref flags);
        SseFloat.Commit(cpu, flags);
        return v;
    }

    private static ulong FromIntImpl(Cpu cpu, ulong dstOffset, ulong value, ulong mode, ulong unused)
    {
        byte* dst = SseFloat.At(cpu, dstOffset);
        uint flags = 0;
        long v = (mode & Int64) != 0 ? (long)value : (int)value;
        if ((mode & ToDouble) != 0)
        {
            ulong r = SoftFloat.FromInt(in SoftFloat.F64, v, cpu.S.Mxcsr, ref flags);
            if (SseFloat.Commit(cpu, flags))
            {
                *(ulong*)dst = r;
            }
        }
        else
        {
            ulong r = SoftFloat.FromInt(in SoftFloat.F32, v, cpu.S.Mxcsr, ref flags);
            if (SseFloat.Commit(cpu, flags))
            {
                *(uint*)dst = (uint)r;
            }
        }

        return 0;
    }

    private static ulong CvtImpl(Cpu cpu, ulong dstOffset, ulong srcOffset, ulong conversion, ulong mmxSource)
    {
        byte* dst = SseFloat.At(cpu, dstOffset);
        byte* src = SseFloat.At(cpu, srcOffset);
        uint* s32 = (uint*)src;
        ulong* s64 = (ulong*)src;
        uint mxcsr = cpu.S.Mxcsr;
        uint flags = 0;
        var c = (SseFpConversion)conversion;
        bool toMmx = c is SseFpConversion.Ps2Pi or SseFpConversion.Tps2Pi or SseFpConversion.Pd2Pi or SseFpConversion.Tpd2Pi;
        bool truncate = c is SseFpConversion.Tps2Dq or SseFpConversion.Tpd2Dq or SseFpConversion.Tps2Pi or SseFpConversion.Tpd2Pi;
        ulong* result = stackalloc ulong[2];
        uint* r32 = (uint*)result;
        result[0] = ((ulong*)dst)[0];
        result[1] = toMmx ? 0 : ((ulong*)dst)[1];
        var f32 = SoftFloat.F32;
        var f64 = SoftFloat.F64;
        switch (c)
        {
            case SseFpConversion.Ss2Sd:
                result[0] = SoftFloat.Convert(in f32, in f64, s32[0], mxcsr, ref flags);
                break;
            case SseFpConversion.Sd2Ss:
                r32[0] = (uint)SoftFloat.Convert(in f64, in f32, s64[0], mxcsr, ref flags);
                break;
            case SseFpConversion.Ps2Pd:
            {
                ulong lo = SoftFloat.Convert(in f32, in f64, s32[0], mxcsr, ref flags);
                result[1] = SoftFloat.Convert(in f32, in f64, s32[1], mxcsr, ref flags);
                result[0] = lo;
                break;
            }

            case SseFpConversion.Pd2Ps:
            {
                uint lo = (uint)SoftFloat.Convert(in f64, in f32, s64[0], mxcsr, ref flags);
                uint hi = (uint)SoftFloat.Convert(in f64, in f32, s64[1], mxcsr, ref flags);
                result[0] = lo | ((ulong)hi << 32);
                result[1] = 0;
                break;
            }

            case SseFpConversion.Dq2Ps:
                for (int i = 0; i < 4; i++)
                {
                    r32[i] = (uint)SoftFloat.FromInt(in f32, (int)s32[i], mxcsr, ref flags);
                }

                break;
            case SseFpConversion.Ps2Dq or SseFpConversion.Tps2Dq:
                for (int i = 0; i < 4; i++)
                {
                    r32[i] = (uint)SoftFloat.ToInt(in f32, s32[i], 32, truncate, mxcsr, ref flags);
                }

                break;
            case SseFpConversion.Dq2Pd or SseFpConversion.Pi2Pd:
            {
                ulong lo = SoftFloat.FromInt(in f64, (int)s32[0], mxcsr, ref flags);
                result[1] = SoftFloat.FromInt(in f64, (int)s32[1], mxcsr, ref flags);
                result[0] = lo;
                break;
            }

            case SseFpConversion.Pd2Dq or SseFpConversion.Tpd2Dq or SseFpConversion.Pd2Pi or SseFpConversion.Tpd2Pi:
            {
                ulong lo = SoftFloat.ToInt(in f64, s64[0], 32, truncate, mxcsr, ref flags);
                ulong hi = SoftFloat.ToInt(in f64, s64[1], 32, truncate, mxcsr, ref flags);
                result[0] = lo | (hi << 32);
                result[1] = 0;
                break;
            }

            case SseFpConversion.Pi2Ps:
            {
                ulong lo = SoftFloat.FromInt(in f32, (int)s32[0], mxcsr, ref flags);
                ulong hi = SoftFloat.FromInt(in f32, (int)s32[1], mxcsr, ref flags);
                result[0] = lo | (hi << 32);
                break;
            }

            case SseFpConversion.Ps2Pi or SseFpConversion.Tps2Pi:
            {
                ulong lo = SoftFloat.ToInt(in f32, s32[0], 32, truncate, mxcsr, ref flags);
                ulong hi = SoftFloat.ToInt(in f32, s32[1], 32, truncate, mxcsr, ref flags);
                result[0] = lo | (hi << 32);
                break;
            }
        }

        if (!SseFloat.Commit(cpu, flags))
        {
            return 0;
        }

        if (toMmx)
        {
            SseFloat.StoreMmx(cpu, dst, result[0]);
            return 0;
        }

        if (mmxSource != 0)
        {
            SseFloat.EnterMmx(cpu);
        }

        SseFloat.Store(dst, result);
        return 0;
    }

    private static ulong LdmxcsrImpl(Cpu cpu, ulong value, ulong unused1, ulong unused2, ulong unused3)
    {
        if ((value & ~(ulong)cpu.S.MxcsrMask) != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        cpu.S.Mxcsr = (uint)value;
        return 0;
    }
}

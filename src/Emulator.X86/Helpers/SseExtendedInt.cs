using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Emulator.Ir;
using static Emulator.X86.Helpers.VectorState;

namespace Emulator.X86.Helpers;

/// <summary>
/// Integer instructions of SSSE3 (MMX and XMM forms), SSE4.1 and SSE4.2 (SDM Vol. 2, each
/// instruction's "Operation"). Every helper is helper(vcpu, dst offset, src offset, imm, length):
/// dst = op(dst, src) over the low <c>length</c> bytes (16 for XMM, 8 for MM). Each reads both
/// operands into locals before writing, so src may be dst. Lane-wise operations that Vector128
/// has an exact form for use it; the rest are written per lane on a 16-byte copy.
/// </summary>
public static unsafe class SseExtendedInt
{
    // SSSE3
    public static readonly HelperInfo Pshufb = Define("pshufb", &PshufbImpl);
    public static readonly HelperInfo Palignr = Define("palignr", &PalignrImpl);
    public static readonly HelperInfo Pabsb = Define("pabsb", &PabsbImpl);
    public static readonly HelperInfo Pabsw = Define("pabsw", &PabswImpl);
    public static readonly HelperInfo Pabsd = Define("pabsd", &PabsdImpl);
    public static readonly HelperInfo Psignb = Define("psignb", &PsignbImpl);
    public static readonly HelperInfo Psignw = Define("psignw", &PsignwImpl);
    public static readonly HelperInfo Psignd = Define("psignd", &PsigndImpl);
    public static readonly HelperInfo Phaddw = Define("phaddw", &PhaddwImpl);
    public static readonly HelperInfo Phaddd = Define("phaddd", &PhadddImpl);
    public static readonly HelperInfo Phaddsw = Define("phaddsw", &PhaddswImpl);
    public static readonly HelperInfo Phsubw = Define("phsubw", &PhsubwImpl);
    public static readonly HelperInfo Phsubd = Define("phsubd", &PhsubdImpl);
    public static readonly HelperInfo Phsubsw = Define("phsubsw", &PhsubswImpl);
    public static readonly HelperInfo Pmaddubsw = Define("pmaddubsw", &PmaddubswImpl);
    public static readonly HelperInfo Pmulhrsw = Define("pmulhrsw", &PmulhrswImpl);

    // SSE4.1
    public static readonly HelperInfo Pmulld = Define("pmulld", &PmulldImpl);
    public static readonly HelperInfo Pmuldq = Define("pmuldq", &PmuldqImpl);
    public static readonly HelperInfo Pminsb = Define("pminsb", &PminsbImpl);
    public static readonly HelperInfo Pminsd = Define("pminsd", &PminsdImpl);
    public static readonly HelperInfo Pminuw = Define("pminuw", &PminuwImpl);
    public static readonly HelperInfo Pminud = Define("pminud", &PminudImpl);
    public static readonly HelperInfo Pmaxsb = Define("pmaxsb", &PmaxsbImpl);
    public static readonly HelperInfo Pmaxsd = Define("pmaxsd", &PmaxsdImpl);
    public static readonly HelperInfo Pmaxuw = Define("pmaxuw", &PmaxuwImpl);
    public static readonly HelperInfo Pmaxud = Define("pmaxud", &PmaxudImpl);
    public static readonly HelperInfo Pcmpeqq = Define("pcmpeqq", &PcmpeqqImpl);
    public static readonly HelperInfo Packusdw = Define("packusdw", &PackusdwImpl);
    public static readonly HelperInfo Phminposuw = Define("phminposuw", &PhminposuwImpl);
    public static readonly HelperInfo Mpsadbw = Define("mpsadbw", &MpsadbwImpl);

    /// <summary>blend(dst, src, mask, lane): lane i from src where mask bit i is set (PBLENDW, BLENDPS, BLENDPD; imm = mask | lane bytes &lt;&lt; 16).</summary>
    public static readonly HelperInfo Blend = Define("blend", &BlendImpl);

    /// <summary>blendv(dst, src, xmm0 offset, lane): lane i from src where the top bit of lane i of XMM0 is set (PBLENDVB, BLENDVPS, BLENDVPD; imm = xmm0 offset | lane bytes &lt;&lt; 16).</summary>
    public static readonly HelperInfo Blendv = Define("blendv", &BlendvImpl);

    /// <summary>pmovx(dst, src, kind): PMOVSX/PMOVZX; imm = from bytes | to bytes &lt;&lt; 4 | signed &lt;&lt; 8.</summary>
    public static readonly HelperInfo Pmovx = Define("pmovx", &PmovxImpl);

    /// <summary>ptest(dst, src): returns the arithmetic flags: ZF = (dst AND src) == 0, CF = (NOT dst AND src) == 0, the rest 0.</summary>
    public static readonly HelperInfo Ptest = HelperTable.Define("ptest", 4, OpFlags.ReadsState, &PtestImpl, generalState: false);

    // SSE4.2
    public static readonly HelperInfo Pcmpgtq = Define("pcmpgtq", &PcmpgtqImpl);

    /// <summary>crc32c(crc, value, bytes): CRC32 (SDM Vol. 2A CRC32): the Castagnoli CRC of the low <c>bytes</c> of value, without inversion.</summary>
    public static readonly HelperInfo Crc32 = HelperTable.Define("crc32c", 3, OpFlags.Pure, &Crc32Impl);

    private static ulong PshufbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        // A selector with bit 7 set zeroes its byte; its low 4 bits (XMM) or 3 bits (MM) pick a
        // byte of the destination. SSSE3's own PSHUFB does exactly that on the masked selectors;
        // Vector128.Shuffle zeroes out-of-range indices, so a selector with bit 7 set becomes 0xFF.
        var a = Load<byte>(c, d, n);
        var sel = Load<byte>(c, s, n) & Vector128.Create((byte)(0x80 | ((int)n - 1)));
        var r = Ssse3.IsSupported
            ? Ssse3.Shuffle(a, sel)
            : Vector128.Shuffle(a, sel | Vector128.ShiftRightArithmetic(sel.AsSByte(), 7).AsByte());
        return Store(c, d, n, r);
    }

    /// <summary>PALIGNR: the concatenation dst:src (dst high) shifted right by imm bytes; the low length bytes.</summary>
    private static ulong PalignrImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        byte* both = stackalloc byte[32];
        Load<byte>(c, s, n).Store(both);
        Load<byte>(c, d, n).Store(both + 16);
        if (n == 8)
        {
            *(ulong*)(both + 8) = *(ulong*)(both + 16);
            *(ulong*)(both + 16) = 0;
        }

        var r = Vector128<byte>.Zero;
        for (int i = 0; i < (int)n; i++)
        {
            ulong k = (ulong)i + imm;
            r = r.WithElement(i, k < 2 * n ? both[k] : (byte)0);
        }

        return Store(c, d, n, r);
    }

    private static ulong PabsbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Abs(Load<sbyte>(c, s, n)));

    private static ulong PabswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Abs(Load<short>(c, s, n)));

    private static ulong PabsdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Abs(Load<int>(c, s, n)));

    /// <summary>PSIGN: dst negated where src is negative, zeroed where src is zero.</summary>
    private static Vector128<T> Sign<T>(Vector128<T> a, Vector128<T> b)
        where T : unmanaged
    {
        var neg = Vector128.LessThan(b, Vector128<T>.Zero);
        var zero = Vector128.Equals(b, Vector128<T>.Zero);
        return Vector128.ConditionalSelect(neg, -a, Vector128.AndNot(a, zero));
    }

    private static ulong PsignbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Sign(Load<sbyte>(c, d, n), Load<sbyte>(c, s, n)));

    private static ulong PsignwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Sign(Load<short>(c, d, n), Load<short>(c, s, n)));

    private static ulong PsigndImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Sign(Load<int>(c, d, n), Load<int>(c, s, n)));

    /// <summary>
    /// A horizontal operation: the low half of the result from adjacent pairs of dst, the high
    /// half from adjacent pairs of src (PHADD/PHSUB: pair[0] op pair[1]).
    /// </summary>
    private static ulong Horizontal(Cpu c, ulong d, ulong s, ulong n, int lane, Func<long, long, long> op)
    {
        byte* both = stackalloc byte[32];
        Load<byte>(c, d, n).Store(both);
        Load<byte>(c, s, n).Store(both + n);
        int lanes = (int)n / lane;
        byte* r = stackalloc byte[16];
        for (int i = 0; i < lanes; i++)
        {
            byte* p = both + (2 * i * lane);
            if (lane == 2)
            {
                *(short*)(r + (i * 2)) = (short)op(*(short*)p, *(short*)(p + 2));
            }
            else
            {
                *(int*)(r + (i * 4)) = (int)op(*(int*)p, *(int*)(p + 4));
            }
        }

        return Store(c, d, n, Vector128.Load(r));
    }

    private static short SaturateToShort(long v) => (short)Math.Clamp(v, short.MinValue, short.MaxValue);

    private static ulong PhaddwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Horizontal(c, d, s, n, 2, static (x, y) => x + y);

    private static ulong PhadddImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Horizontal(c, d, s, n, 4, static (x, y) => x + y);

    private static ulong PhaddswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Horizontal(c, d, s, n, 2, static (x, y) => SaturateToShort(x + y));

    private static ulong PhsubwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Horizontal(c, d, s, n, 2, static (x, y) => x - y);

    private static ulong PhsubdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Horizontal(c, d, s, n, 4, static (x, y) => x - y);

    private static ulong PhsubswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Horizontal(c, d, s, n, 2, static (x, y) => SaturateToShort(x - y));

    /// <summary>PMADDUBSW: unsigned bytes of dst times signed bytes of src, adjacent products added with signed saturation.</summary>
    private static ulong PmaddubswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var a = Load<byte>(c, d, n);
        var b = Load<sbyte>(c, s, n);
        var r = Vector128<short>.Zero;
        for (int i = 0; i < (int)n / 2; i++)
        {
            long sum = (a.GetElement(2 * i) * b.GetElement(2 * i)) + (a.GetElement((2 * i) + 1) * b.GetElement((2 * i) + 1));
            r = r.WithElement(i, SaturateToShort(sum));
        }

        return Store(c, d, n, r);
    }

    /// <summary>PMULHRSW: signed word products, scaled by 2^-15 and rounded: ((a * b &gt;&gt; 14) + 1) &gt;&gt; 1.</summary>
    private static ulong PmulhrswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var a = Load<short>(c, d, n);
        var b = Load<short>(c, s, n);
        var r = Vector128<short>.Zero;
        for (int i = 0; i < (int)n / 2; i++)
        {
            int p = a.GetElement(i) * b.GetElement(i);
            r = r.WithElement(i, (short)(((p >> 14) + 1) >> 1));
        }

        return Store(c, d, n, r);
    }

    private static ulong PmulldImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<uint>(c, d, n) * Load<uint>(c, s, n));

    /// <summary>PMULDQ: the signed low dwords of each qword multiplied to a signed qword.</summary>
    private static ulong PmuldqImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var a = Load<int>(c, d, n);
        var b = Load<int>(c, s, n);
        return Store(c, d, n, Vector128.Create((long)a.GetElement(0) * b.GetElement(0), (long)a.GetElement(2) * b.GetElement(2)));
    }

    private static ulong PminsbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Min(Load<sbyte>(c, d, n), Load<sbyte>(c, s, n)));

    private static ulong PminsdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Min(Load<int>(c, d, n), Load<int>(c, s, n)));

    private static ulong PminuwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Min(Load<ushort>(c, d, n), Load<ushort>(c, s, n)));

    private static ulong PminudImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Min(Load<uint>(c, d, n), Load<uint>(c, s, n)));

    private static ulong PmaxsbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Max(Load<sbyte>(c, d, n), Load<sbyte>(c, s, n)));

    private static ulong PmaxsdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Max(Load<int>(c, d, n), Load<int>(c, s, n)));

    private static ulong PmaxuwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Max(Load<ushort>(c, d, n), Load<ushort>(c, s, n)));

    private static ulong PmaxudImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Max(Load<uint>(c, d, n), Load<uint>(c, s, n)));

    private static ulong PcmpeqqImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Equals(Load<ulong>(c, d, n), Load<ulong>(c, s, n)));

    private static ulong PcmpgtqImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.GreaterThan(Load<long>(c, d, n), Load<long>(c, s, n)));

    /// <summary>PACKUSDW: the signed dwords of dst then src, each saturated to an unsigned word.</summary>
    private static ulong PackusdwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var a = Load<int>(c, d, n);
        var b = Load<int>(c, s, n);
        var r = Vector128<ushort>.Zero;
        for (int i = 0; i < 4; i++)
        {
            r = r.WithElement(i, (ushort)Math.Clamp(a.GetElement(i), 0, ushort.MaxValue));
            r = r.WithElement(i + 4, (ushort)Math.Clamp(b.GetElement(i), 0, ushort.MaxValue));
        }

        return Store(c, d, n, r);
    }

    /// <summary>PHMINPOSUW: the smallest unsigned word of src in word 0, its (lowest) index in bits 16-18, the rest zero.</summary>
    private static ulong PhminposuwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var b = Load<ushort>(c, s, n);
        int index = 0;
        for (int i = 1; i < 8; i++)
        {
            if (b.GetElement(i) < b.GetElement(index))
            {
                index = i;
            }
        }

        return Store(c, d, n, Vector128.Create((ulong)b.GetElement(index) | ((ulong)index << 16), 0UL));
    }

    /// <summary>
    /// MPSADBW: eight sums of absolute differences of 4-byte groups: word i = sum over j of
    /// |dst[dOff + i + j] - src[sOff + j]|, dOff = imm bit 2 * 4, sOff = imm bits 1:0 * 4.
    /// </summary>
    private static ulong MpsadbwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var a = Load<byte>(c, d, n);
        var b = Load<byte>(c, s, n);
        int dOff = (int)((imm >> 2) & 1) * 4;
        int sOff = (int)(imm & 3) * 4;
        var r = Vector128<ushort>.Zero;
        for (int i = 0; i < 8; i++)
        {
            int sum = 0;
            for (int j = 0; j < 4; j++)
            {
                sum += Math.Abs(a.GetElement(dOff + i + j) - b.GetElement(sOff + j));
            }

            r = r.WithElement(i, (ushort)sum);
        }

        return Store(c, d, n, r);
    }

    private static ulong BlendImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        byte* a = At(c, d);
        byte* b = At(c, s);
        int lane = (int)(imm >> 16);
        byte* r = stackalloc byte[16];
        for (int i = 0; i < 16; i++)
        {
            r[i] = ((imm >> (i / lane)) & 1) != 0 ? b[i] : a[i];
        }

        return Store(c, d, n, Vector128.Load(r));
    }

    private static ulong BlendvImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        byte* a = At(c, d);
        byte* b = At(c, s);
        byte* mask = At(c, imm & 0xffff);
        int lane = (int)(imm >> 16);
        byte* r = stackalloc byte[16];
        for (int i = 0; i < 16; i++)
        {
            bool pick = (mask[((i / lane) * lane) + lane - 1] & 0x80) != 0;
            r[i] = pick ? b[i] : a[i];
        }

        return Store(c, d, n, Vector128.Load(r));
    }

    private static ulong PmovxImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        int from = (int)(imm & 15);
        int to = (int)((imm >> 4) & 15);
        bool signed = ((imm >> 8) & 1) != 0;
        byte* src = At(c, s);
        byte* r = stackalloc byte[16];
        for (int i = 0; i < 16 / to; i++)
        {
            long v = from switch
            {
                1 => signed ? ((sbyte*)src)[i] : src[i],
                2 => signed ? ((short*)src)[i] : ((ushort*)src)[i],
                _ => signed ? ((int*)src)[i] : ((uint*)src)[i],
            };
            switch (to)
            {
                case 2: ((short*)r)[i] = (short)v; break;
                case 4: ((int*)r)[i] = (int)v; break;
                default: ((long*)r)[i] = v; break;
            }
        }

        return Store(c, d, n, Vector128.Load(r));
    }

    private static ulong PtestImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var a = Load<ulong>(c, d, 16);
        var b = Load<ulong>(c, s, 16);
        ulong zf = (a & b) == Vector128<ulong>.Zero ? 1UL << 6 : 0;
        ulong cf = Vector128.AndNot(b, a) == Vector128<ulong>.Zero ? 1UL : 0;
        return zf | cf;
    }

    private static ulong Crc32Impl(Cpu c, ulong crc, ulong value, ulong bytes, ulong unused) => (uint)bytes switch
    {
        1 => System.Numerics.BitOperations.Crc32C((uint)crc, (byte)value),
        2 => System.Numerics.BitOperations.Crc32C((uint)crc, (ushort)value),
        4 => System.Numerics.BitOperations.Crc32C((uint)crc, (uint)value),
        _ => System.Numerics.BitOperations.Crc32C((uint)crc, value),
    };
}

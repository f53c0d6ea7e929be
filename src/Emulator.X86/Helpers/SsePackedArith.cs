using System.Runtime.Intrinsics;
using Emulator.Ir;
using static Emulator.X86.Helpers.VectorState;

namespace Emulator.X86.Helpers;

/// <summary>
/// Lane-wise integer arithmetic of SSE2 and MMX (SDM Vol. 2, each instruction's "Operation"):
/// dst = op(dst, src) over the low <c>length</c> bytes (16 for XMM, 8 for MM). Every helper is
/// helper(vcpu, dst offset, src offset, unused, length). Operations that Vector128 has an exact
/// cross-platform form for use it; the rest are written per lane.
/// </summary>
public static unsafe class SsePackedArith
{
    public static readonly HelperInfo Paddb = Define("paddb", &PaddbImpl);
    public static readonly HelperInfo Paddw = Define("paddw", &PaddwImpl);
    public static readonly HelperInfo Paddd = Define("paddd", &PadddImpl);
    public static readonly HelperInfo Psubb = Define("psubb", &PsubbImpl);
    public static readonly HelperInfo Psubw = Define("psubw", &PsubwImpl);
    public static readonly HelperInfo Psubd = Define("psubd", &PsubdImpl);
    public static readonly HelperInfo Paddsb = Define("paddsb", &PaddsbImpl);
    public static readonly HelperInfo Paddsw = Define("paddsw", &PaddswImpl);
    public static readonly HelperInfo Paddusb = Define("paddusb", &PaddusbImpl);
    public static readonly HelperInfo Paddusw = Define("paddusw", &PadduswImpl);
    public static readonly HelperInfo Psubsb = Define("psubsb", &PsubsbImpl);
    public static readonly HelperInfo Psubsw = Define("psubsw", &PsubswImpl);
    public static readonly HelperInfo Psubusb = Define("psubusb", &PsubusbImpl);
    public static readonly HelperInfo Psubusw = Define("psubusw", &PsubuswImpl);
    public static readonly HelperInfo Pmullw = Define("pmullw", &PmullwImpl);
    public static readonly HelperInfo Pmulhw = Define("pmulhw", &PmulhwImpl);
    public static readonly HelperInfo Pmulhuw = Define("pmulhuw", &PmulhuwImpl);
    public static readonly HelperInfo Pmuludq = Define("pmuludq", &PmuludqImpl);
    public static readonly HelperInfo Pmaddwd = Define("pmaddwd", &PmaddwdImpl);
    public static readonly HelperInfo Pavgb = Define("pavgb", &PavgbImpl);
    public static readonly HelperInfo Pavgw = Define("pavgw", &PavgwImpl);
    public static readonly HelperInfo Pminub = Define("pminub", &PminubImpl);
    public static readonly HelperInfo Pmaxub = Define("pmaxub", &PmaxubImpl);
    public static readonly HelperInfo Pminsw = Define("pminsw", &PminswImpl);
    public static readonly HelperInfo Pmaxsw = Define("pmaxsw", &PmaxswImpl);
    public static readonly HelperInfo Psadbw = Define("psadbw", &PsadbwImpl);
    public static readonly HelperInfo Pcmpeqw = Define("pcmpeqw", &PcmpeqwImpl);
    public static readonly HelperInfo Pcmpeqd = Define("pcmpeqd", &PcmpeqdImpl);
    public static readonly HelperInfo Pcmpgtb = Define("pcmpgtb", &PcmpgtbImpl);
    public static readonly HelperInfo Pcmpgtw = Define("pcmpgtw", &PcmpgtwImpl);
    public static readonly HelperInfo Pcmpgtd = Define("pcmpgtd", &PcmpgtdImpl);

    // Wrapping add and subtract (PADDB/W/D, PSUBB/W/D).
    private static ulong PaddbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<byte>(c, d, n) + Load<byte>(c, s, n));

    private static ulong PaddwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<ushort>(c, d, n) + Load<ushort>(c, s, n));

    private static ulong PadddImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<uint>(c, d, n) + Load<uint>(c, s, n));

    private static ulong PsubbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<byte>(c, d, n) - Load<byte>(c, s, n));

    private static ulong PsubwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<ushort>(c, d, n) - Load<ushort>(c, s, n));

    private static ulong PsubdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<uint>(c, d, n) - Load<uint>(c, s, n));

    // Saturating add and subtract, signed (PADDSB/W, PSUBSB/W) and unsigned (PADDUSB/W, PSUBUSB/W).
    private static ulong PaddsbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.AddSaturate(Load<sbyte>(c, d, n), Load<sbyte>(c, s, n)));

    private static ulong PaddswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.AddSaturate(Load<short>(c, d, n), Load<short>(c, s, n)));

    private static ulong PaddusbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.AddSaturate(Load<byte>(c, d, n), Load<byte>(c, s, n)));

    private static ulong PadduswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.AddSaturate(Load<ushort>(c, d, n), Load<ushort>(c, s, n)));

    private static ulong PsubsbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.SubtractSaturate(Load<sbyte>(c, d, n), Load<sbyte>(c, s, n)));

    private static ulong PsubswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.SubtractSaturate(Load<short>(c, d, n), Load<short>(c, s, n)));

    private static ulong PsubusbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.SubtractSaturate(Load<byte>(c, d, n), Load<byte>(c, s, n)));

    private static ulong PsubuswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.SubtractSaturate(Load<ushort>(c, d, n), Load<ushort>(c, s, n)));

    // Multiplies.
    private static ulong PmullwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Load<ushort>(c, d, n) * Load<ushort>(c, s, n));

    /// <summary>PMULHW: the high 16 bits of each signed 16x16 product.</summary>
    private static ulong PmulhwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        short* a = (short*)At(c, d), b = (short*)At(c, s);
        for (int i = 0; i < (int)n / 2; i++)
        {
            a[i] = (short)((a[i] * b[i]) >> 16);
        }

        return 0;
    }

    /// <summary>PMULHUW: the high 16 bits of each unsigned 16x16 product.</summary>
    private static ulong PmulhuwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        ushort* a = (ushort*)At(c, d), b = (ushort*)At(c, s);
        for (int i = 0; i < (int)n / 2; i++)
        {
            a[i] = (ushort)(((uint)a[i] * b[i]) >> 16);
        }

        return 0;
    }

    /// <summary>PMULUDQ: each quadword = low dword of dst times low dword of src, unsigned.</summary>
    private static ulong PmuludqImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        ulong* a = (ulong*)At(c, d), b = (ulong*)At(c, s);
        for (int i = 0; i < (int)n / 8; i++)
        {
            a[i] = (a[i] & 0xffff_ffff) * (b[i] & 0xffff_ffff);
        }

        return 0;
    }

    /// <summary>
    /// PMADDWD: each dword = sum of the two signed word products beside it. Only
    /// 0x8000*0x8000 twice overflows; it wraps to 0x80000000 as the SDM says.
    /// </summary>
    private static ulong PmaddwdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        short* a = (short*)At(c, d), b = (short*)At(c, s);
        int* r = (int*)a;
        for (int i = 0; i < (int)n / 4; i++)
        {
            int sum = unchecked((a[2 * i] * b[2 * i]) + (a[(2 * i) + 1] * b[(2 * i) + 1]));
            r[i] = sum;
        }

        return 0;
    }

    // Averages round up: (a + b + 1) >> 1 without overflow (PAVGB, PAVGW).
    private static ulong PavgbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        byte* a = At(c, d), b = At(c, s);
        for (int i = 0; i < (int)n; i++)
        {
            a[i] = (byte)((a[i] + b[i] + 1) >> 1);
        }

        return 0;
    }

    private static ulong PavgwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        ushort* a = (ushort*)At(c, d), b = (ushort*)At(c, s);
        for (int i = 0; i < (int)n / 2; i++)
        {
            a[i] = (ushort)(((uint)a[i] + b[i] + 1) >> 1);
        }

        return 0;
    }

    // Minimum and maximum: unsigned bytes, signed words.
    private static ulong PminubImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Min(Load<byte>(c, d, n), Load<byte>(c, s, n)));

    private static ulong PmaxubImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Max(Load<byte>(c, d, n), Load<byte>(c, s, n)));

    private static ulong PminswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Min(Load<short>(c, d, n), Load<short>(c, s, n)));

    private static ulong PmaxswImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Max(Load<short>(c, d, n), Load<short>(c, s, n)));

    /// <summary>PSADBW: per 8 bytes, the sum of absolute differences in the low word of that quadword, the rest zero.</summary>
    private static ulong PsadbwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        byte* a = At(c, d), b = At(c, s);
        for (int q = 0; q < (int)n; q += 8)
        {
            ulong sum = 0;
            for (int i = q; i < q + 8; i++)
            {
                sum += (ulong)Math.Abs(a[i] - b[i]);
            }

            *(ulong*)(a + q) = sum;
        }

        return 0;
    }

    // Compares give all ones or all zeros per lane; greater-than is signed.

    private static ulong PcmpeqwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Equals(Load<ushort>(c, d, n), Load<ushort>(c, s, n)));

    private static ulong PcmpeqdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.Equals(Load<uint>(c, d, n), Load<uint>(c, s, n)));

    private static ulong PcmpgtbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.GreaterThan(Load<sbyte>(c, d, n), Load<sbyte>(c, s, n)));

    private static ulong PcmpgtwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.GreaterThan(Load<short>(c, d, n), Load<short>(c, s, n)));

    private static ulong PcmpgtdImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n) => Store(c, d, n, Vector128.GreaterThan(Load<int>(c, d, n), Load<int>(c, s, n)));
}

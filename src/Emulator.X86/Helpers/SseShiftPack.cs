using System.Runtime.Intrinsics;
using Emulator.Ir;
using static Emulator.X86.Helpers.VectorState;

namespace Emulator.X86.Helpers;

/// <summary>
/// SSE2/MMX integer shifts, packs and the masked stores (SDM Vol. 2,
/// each instruction's "Operation"). Lengths are 16 (XMM) or 8 (MM) bytes.
/// </summary>
public static unsafe class SseShiftPack
{
    // Shifts: helper(vcpu, dst offset, count, unused, length). The count is the whole 64-bit
    // value (an imm8, or the low quadword of the source); a count past the lane width gives 0,
    // or the sign for arithmetic shifts.
    public static readonly HelperInfo Psllw = Define("psllw", &PsllwImpl);
    public static readonly HelperInfo Pslld = Define("pslld", &PslldImpl);
    public static readonly HelperInfo Psllq = Define("psllq", &PsllqImpl);
    public static readonly HelperInfo Psrlw = Define("psrlw", &PsrlwImpl);
    public static readonly HelperInfo Psrld = Define("psrld", &PsrldImpl);
    public static readonly HelperInfo Psrlq = Define("psrlq", &PsrlqImpl);
    public static readonly HelperInfo Psraw = Define("psraw", &PsrawImpl);
    public static readonly HelperInfo Psrad = Define("psrad", &PsradImpl);

    /// <summary>pslldq(dst, unused, imm8, 16) and psrldq: whole-register byte shifts; imm8 above 15 clears it.</summary>
    public static readonly HelperInfo Pslldq = Define("pslldq", &PslldqImpl);
    public static readonly HelperInfo Psrldq = Define("psrldq", &PsrldqImpl);

    // Packs: helper(vcpu, dst, src, unused, length). The low half of the result narrows dst, the high half src.
    public static readonly HelperInfo Packsswb = Define("packsswb", &PacksswbImpl);
    public static readonly HelperInfo Packssdw = Define("packssdw", &PackssdwImpl);
    public static readonly HelperInfo Packuswb = Define("packuswb", &PackuswbImpl);

    /// <summary>
    /// maskmov(data, mask, linear address, length | wrap32 &lt;&lt; 8): stores each byte of data whose
    /// mask byte has its top bit set (MASKMOVDQU, MASKMOVQ). Bytes are written one at a time, in
    /// order, so a fault part way leaves the earlier bytes written.
    /// </summary>
    public static readonly HelperInfo MaskMov = HelperTable.Define("maskmov", 4, HelperTable.Effects, &MaskMovImpl);

    private static ulong PsllwImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, count > 15 ? Vector128<ushort>.Zero : Vector128.ShiftLeft(Load<ushort>(c, d, n), (int)count));

    private static ulong PslldImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, count > 31 ? Vector128<uint>.Zero : Vector128.ShiftLeft(Load<uint>(c, d, n), (int)count));

    private static ulong PsllqImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, count > 63 ? Vector128<ulong>.Zero : Vector128.ShiftLeft(Load<ulong>(c, d, n), (int)count));

    private static ulong PsrlwImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, count > 15 ? Vector128<ushort>.Zero : Vector128.ShiftRightLogical(Load<ushort>(c, d, n), (int)count));

    private static ulong PsrldImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, count > 31 ? Vector128<uint>.Zero : Vector128.ShiftRightLogical(Load<uint>(c, d, n), (int)count));

    private static ulong PsrlqImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, count > 63 ? Vector128<ulong>.Zero : Vector128.ShiftRightLogical(Load<ulong>(c, d, n), (int)count));

    private static ulong PsrawImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, Vector128.ShiftRightArithmetic(Load<short>(c, d, n), (int)Math.Min(count, 15)));

    private static ulong PsradImpl(Cpu c, ulong d, ulong count, ulong imm, ulong n) =>
        Store(c, d, n, Vector128.ShiftRightArithmetic(Load<int>(c, d, n), (int)Math.Min(count, 31)));

    private static ulong PslldqImpl(Cpu c, ulong d, ulong unused, ulong imm, ulong n)
    {
        byte* p = At(c, d);
        int shift = (int)Math.Min(imm, 16);
        for (int i = 15; i >= 0; i--)
        {
            p[i] = i >= shift ? p[i - shift] : (byte)0;
        }

        return 0;
    }

    private static ulong PsrldqImpl(Cpu c, ulong d, ulong unused, ulong imm, ulong n)
    {
        byte* p = At(c, d);
        int shift = (int)Math.Min(imm, 16);
        for (int i = 0; i < 16; i++)
        {
            p[i] = i + shift < 16 ? p[i + shift] : (byte)0;
        }

        return 0;
    }

    /// <summary>
    /// The packed source of a pack: for XMM dst and src as they are; for MM (8 bytes each) dst in
    /// the low and src in the high quadword, so narrowing that vector with itself puts the
    /// result in the low 8 bytes.
    /// </summary>
    private static (Vector128<T> Lo, Vector128<T> Hi) PackInputs<T>(Cpu c, ulong d, ulong s, ulong n)
    {
        if (n == 16)
        {
            return (Load<T>(c, d, n), Load<T>(c, s, n));
        }

        var both = Vector128.Create(*(ulong*)At(c, d), *(ulong*)At(c, s)).As<ulong, T>();
        return (both, both);
    }

    private static ulong PacksswbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var (lo, hi) = PackInputs<short>(c, d, s, n);
        return Store(c, d, n, Vector128.NarrowWithSaturation(lo, hi));
    }

    private static ulong PackssdwImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var (lo, hi) = PackInputs<int>(c, d, s, n);
        return Store(c, d, n, Vector128.NarrowWithSaturation(lo, hi));
    }

    /// <summary>PACKUSWB: signed words saturated to unsigned bytes (negative gives 0).</summary>
    private static ulong PackuswbImpl(Cpu c, ulong d, ulong s, ulong imm, ulong n)
    {
        var (lo, hi) = PackInputs<short>(c, d, s, n);
        var l = Vector128.Max(lo, Vector128<short>.Zero).AsUInt16();
        var h = Vector128.Max(hi, Vector128<short>.Zero).AsUInt16();
        return Store(c, d, n, Vector128.NarrowWithSaturation(l, h));
    }

    private static ulong MaskMovImpl(Cpu c, ulong data, ulong mask, ulong addr, ulong lengthAndWrap)
    {
        byte* v = At(c, data), m = At(c, mask);
        int n = (int)(lengthAndWrap & 0xff);
        ulong wrap = (lengthAndWrap >> 8) != 0 ? 0xffff_ffffUL : ulong.MaxValue;
        for (int i = 0; i < n; i++)
        {
            if ((m[i] & 0x80) != 0 && !c.Write((addr + (ulong)i) & wrap, 1, v[i]))
            {
                return 0;
            }
        }

        return 0;
    }
}

using System.Numerics;
using Emulator.X86.State;

namespace Emulator.X86.Flags;

/// <summary>
/// Materialises the arithmetic flags from the lazy form: the one definition of what each
/// flag-setting operation does to CF, PF, AF, ZF, SF and OF (SDM Vol. 1 3.4.3, Appendix A).
/// Registered as a pure IR helper, so both tiers call this same code; the frontend only adds
/// shortcuts for conditions that follow directly from a compare (see Translator.Flags.cs).
/// </summary>
public static class LazyFlags
{
    public static ulong Compute(ulong ccOp, ulong dst, ulong src1, ulong src2)
    {
        var kind = CcOp.Kind(ccOp);
        if (kind == CcKind.Eflags)
        {
            return src1 & (ulong)RFlags.Arith;
        }

        int bits = 8 << CcOp.Log2Size(ccOp);
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        int top = bits - 1;
        dst &= mask;
        src1 &= mask;
        src2 &= mask;

        ulong cf = 0, of = 0, af = 0;
        switch (kind)
        {
            // dst = src1 + src2
            case CcKind.Add:
                cf = dst < src1 ? 1UL : 0;
                of = (((src1 ^ dst) & (src2 ^ dst)) >> top) & 1;
                af = (src1 ^ src2 ^ dst) & 0x10;
                break;

            // dst = src1 + src2 + carry-in; the carry-in is dst - src1 - src2.
            case CcKind.Adc:
            {
                bool cin = ((dst - src1 - src2) & mask) != 0;
                cf = (cin ? dst <= src1 : dst < src1) ? 1UL : 0;
                of = (((src1 ^ dst) & (src2 ^ dst)) >> top) & 1;
                af = (src1 ^ src2 ^ dst) & 0x10;
                break;
            }

            // dst = src1 - src2
            case CcKind.Sub:
                cf = src1 < src2 ? 1UL : 0;
                of = (((src1 ^ src2) & (src1 ^ dst)) >> top) & 1;
                af = (src1 ^ src2 ^ dst) & 0x10;
                break;

            // dst = src1 - src2 - borrow-in; the borrow-in is src1 - src2 - dst.
            case CcKind.Sbb:
            {
                bool bin = ((src1 - src2 - dst) & mask) != 0;
                cf = (bin ? src1 <= src2 : src1 < src2) ? 1UL : 0;
                of = (((src1 ^ src2) & (src1 ^ dst)) >> top) & 1;
                af = (src1 ^ src2 ^ dst) & 0x10;
                break;
            }

            // dst = result of AND/OR/XOR/TEST: CF = OF = 0; AF is undefined, 0 here.
            case CcKind.Logic:
                break;

            // dst = src1 + 1; src2 = CF before (INC keeps CF).
            case CcKind.Inc:
                cf = src2 & 1;
                of = dst == 1UL << top ? 1UL : 0;
                af = (src1 ^ dst) & 0x10;
                break;

            // dst = src1 - 1; src2 = CF before.
            case CcKind.Dec:
                cf = src2 & 1;
                of = dst == (1UL << top) - 1 ? 1UL : 0;
                af = (src1 ^ dst) & 0x10;
                break;

            // dst = src1 << src2 (also SHLD, whose shifted-out bits come from src1 too); src2 != 0.
            // OF is defined for a count of 1 only; this formula is what it is for 1.
            case CcKind.Shl:
                cf = src2 <= (ulong)bits ? (src1 >> (int)((ulong)bits - src2)) & 1 : 0;
                of = ((dst >> top) ^ cf) & 1;
                break;

            // dst = src1 >> src2 (also SHRD); OF (count 1) is the change of the sign bit.
            case CcKind.Shr:
                cf = src2 - 1 < 64 ? (src1 >> (int)(src2 - 1)) & 1 : 0;
                of = ((src1 ^ dst) >> top) & 1;
                break;

            // dst = src1 >> src2, arithmetic; OF = 0 for a count of 1.
            case CcKind.Sar:
            {
                long s = SignExtend(src1, bits);
                cf = (ulong)(s >> (int)Math.Min(src2 - 1, 63)) & 1;
                of = 0;
                break;
            }

            // dst = low half of the product, src1 = high half. CF = OF = high half non-zero.
            case CcKind.Mul:
                cf = of = src1 != 0 ? 1UL : 0;
                break;

            // dst = low half, src1 = high half of the signed product. CF = OF = high half is not the sign of the low.
            case CcKind.IMul:
            {
                ulong sign = ((dst >> top) & 1) != 0 ? mask : 0;
                cf = of = src1 != sign ? 1UL : 0;
                break;
            }

            default:
                throw new InvalidOperationException($"unknown cc_op {ccOp}");
        }

        ulong zf = dst == 0 ? 1UL : 0;
        ulong sf = (dst >> top) & 1;
        ulong pf = Parity(dst);
        return cf | (pf << 2) | af | (zf << 6) | (sf << 7) | (of << 11);
    }

    /// <summary>PF: 1 when the low byte has an even number of set bits.</summary>
    public static ulong Parity(ulong v) => (ulong)(~BitOperations.PopCount(v & 0xff) & 1);

    private static long SignExtend(ulong v, int bits) => bits == 64 ? (long)v : (long)(v << (64 - bits)) >> (64 - bits);
}

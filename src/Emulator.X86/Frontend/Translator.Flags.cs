using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Lazy flags in the frontend. A flag-setting instruction stores cc_op and its operands to
/// state (the dead-store pass drops those an instruction later overwrites unobserved) and
/// the translator remembers them, so a condition read later in the same block is computed
/// straight from the operands: CMP + JL becomes one signed compare. When the flags came from
/// an earlier block, or for conditions without a shortcut, the flags are materialised by the
/// compute_flags helper (LazyFlags.Compute, the single definition of flag bits).
/// </summary>
public sealed partial class Translator
{
    private bool ccKnown;
    private CcKind ccKind;
    private IrType ccType;
    private Operand ccDst;
    private Operand ccSrc1;
    private Operand ccSrc2;

    private void ResetFlagKnowledge() => ccKnown = false;

    /// <summary>Records that an operation of <paramref name="kind"/> set the flags (operands at the operation's width).</summary>
    private void SetCc(CcKind kind, Operand dst, Operand src1, Operand src2)
    {
        var t = dst.Type;
        b.StState(CpuStateOffsets.CcOp, I64(CcOp.Make(kind, (int)t)));
        b.StState(CpuStateOffsets.CcDst, b.ZExt(dst, IrType.I64));
        b.StState(CpuStateOffsets.CcSrc1, b.ZExt(src1, IrType.I64));
        b.StState(CpuStateOffsets.CcSrc2, b.ZExt(src2, IrType.I64));
        ccKnown = true;
        ccKind = kind;
        ccType = t;
        ccDst = dst;
        ccSrc1 = b.Resize(src1, t);
        ccSrc2 = b.Resize(src2, t);
    }

    /// <summary>Sets the arithmetic flags to the given RFLAGS bits (only CF, PF, AF, ZF, SF, OF are kept).</summary>
    private void SetFlagsMaterialized(Operand flagBits)
    {
        var f = b.And(b.ZExt(flagBits, IrType.I64), I64((ulong)RFlags.Arith));
        b.StState(CpuStateOffsets.CcOp, I64(CcOp.Eflags));
        b.StState(CpuStateOffsets.CcSrc1, f);
        ccKnown = true;
        ccKind = CcKind.Eflags;
        ccType = IrType.I64;
        ccDst = I64(0);
        ccSrc1 = f;
        ccSrc2 = I64(0);
    }

    /// <summary>The six arithmetic flags as RFLAGS bits (I64).</summary>
    private Operand ArithFlags()
    {
        if (ccKnown && ccKind == CcKind.Eflags)
        {
            return ccSrc1;
        }

        return FlagsCall(CoreHelpers.ComputeFlags);
    }

    /// <summary>A lazy-flags helper (all flags, or CF alone) called on what set the flags: the operands this block remembers, or the state's.</summary>
    private Operand FlagsCall(HelperInfo helper)
    {
        if (ccKnown)
        {
            return b.Call(helper, I64(CcOp.Make(ccKind, (int)ccType)), ccDst, ccSrc1, ccSrc2);
        }

        return b.Call(
            helper,
            b.LdState(CpuStateOffsets.CcOp, IrType.I64),
            b.LdState(CpuStateOffsets.CcDst, IrType.I64),
            b.LdState(CpuStateOffsets.CcSrc1, IrType.I64),
            b.LdState(CpuStateOffsets.CcSrc2, IrType.I64));
    }

    /// <summary>One flag as an I8 0 or 1.</summary>
    private Operand Flag(RFlags f)
    {
        int bit = System.Numerics.BitOperations.TrailingZeroCount((ulong)f);
        return b.Trunc(b.And(b.Shr(ArithFlags(), I64((ulong)bit)), I64(1)), IrType.I8);
    }

    /// <summary>CF as an I8 0 or 1.</summary>
    private Operand CarryFlag()
    {
        if (ccKnown)
        {
            switch (ccKind)
            {
                case CcKind.Sub: return b.SetCond(IrCond.LtU, ccSrc1, ccSrc2);
                case CcKind.Add: return b.SetCond(IrCond.LtU, ccDst, ccSrc1);
                case CcKind.Logic: return I8(0);
                case CcKind.Inc or CcKind.Dec: return b.Trunc(ccSrc2, IrType.I8);
                case CcKind.Shl or CcKind.Shr or CcKind.Sar when ShiftCarry() is { IsValid: true } cf: return cf;
                case CcKind.Eflags: return b.Trunc(b.And(ccSrc1, I64(1)), IrType.I8);
            }
        }

        return b.Trunc(FlagsCall(CoreHelpers.ComputeCarry), IrType.I8);
    }

    /// <summary>
    /// CF of a shift by a constant count within the width: the last bit shifted out (SDM Vol. 2B
    /// SAL/SAR/SHL/SHR), bit (width - count) for left shifts and bit (count - 1) for right shifts
    /// (for SAR too, as the count is below the width). Other counts go through the helper.
    /// </summary>
    private Operand ShiftCarry()
    {
        if (!ccSrc2.IsConst || ccSrc2.Value == 0 || ccSrc2.Value > (ulong)ccType.Bits())
        {
            return default;
        }

        int bit = ccKind == CcKind.Shl ? ccType.Bits() - (int)ccSrc2.Value : (int)ccSrc2.Value - 1;
        if (ccKind == CcKind.Sar && bit >= ccType.Bits() - 1)
        {
            bit = ccType.Bits() - 1;
        }

        var shifted = b.Shr(ccSrc1, Const((ulong)bit, ccType));
        return b.Trunc(b.And(shifted, Const(1, ccType)), IrType.I8);
    }

    private bool CarryShortcutExists() => ccKind is CcKind.Inc or CcKind.Dec
        || (ccKind is CcKind.Shl or CcKind.Shr or CcKind.Sar && ccSrc2.IsConst && ccSrc2.Value != 0 && ccSrc2.Value <= (ulong)ccType.Bits());

    /// <summary>Whether condition <paramref name="cc"/> holds, as an I8 0 or 1 (SDM Vol. 1 Appendix B).</summary>
    private Operand Condition(ConditionCode cc)
    {
        if (ccKnown && Shortcut(cc) is { IsValid: true } fast)
        {
            return fast;
        }

        var f = ArithFlags();
        Operand Bit(int n) => b.And(b.Shr(f, I64((ulong)n)), I64(1));
        Operand v = cc switch
        {
            ConditionCode.o or ConditionCode.no => Bit(11),
            ConditionCode.b or ConditionCode.ae => Bit(0),
            ConditionCode.e or ConditionCode.ne => Bit(6),
            ConditionCode.be or ConditionCode.a => b.SetCond(IrCond.Ne, b.And(f, I64((ulong)(RFlags.CF | RFlags.ZF))), I64(0), IrType.I64),
            ConditionCode.s or ConditionCode.ns => Bit(7),
            ConditionCode.p or ConditionCode.np => Bit(2),
            ConditionCode.l or ConditionCode.ge => b.And(b.Xor(Bit(7), Bit(11)), I64(1)),
            ConditionCode.le or ConditionCode.g => b.Or(Bit(6), b.And(b.Xor(Bit(7), Bit(11)), I64(1))),
            _ => throw new InvalidOperationException($"condition {cc}"),
        };

        bool negated = cc is ConditionCode.no or ConditionCode.ae or ConditionCode.ne or ConditionCode.a
            or ConditionCode.ns or ConditionCode.np or ConditionCode.ge or ConditionCode.g;
        v = b.Trunc(v, IrType.I8);
        return negated ? b.Xor(v, I8(1)) : v;
    }

    /// <summary>A condition computed from the remembered operands, where that is exact; default otherwise.</summary>
    private Operand Shortcut(ConditionCode cc)
    {
        var zero = Const(0, ccType);
        switch (ccKind)
        {
            case CcKind.Sub:
                return cc switch
                {
                    ConditionCode.b => b.SetCond(IrCond.LtU, ccSrc1, ccSrc2),
                    ConditionCode.ae => b.SetCond(IrCond.GeU, ccSrc1, ccSrc2),
                    ConditionCode.e => b.SetCond(IrCond.Eq, ccSrc1, ccSrc2),
                    ConditionCode.ne => b.SetCond(IrCond.Ne, ccSrc1, ccSrc2),
                    ConditionCode.be => b.SetCond(IrCond.LeU, ccSrc1, ccSrc2),
                    ConditionCode.a => b.SetCond(IrCond.GtU, ccSrc1, ccSrc2),
                    ConditionCode.l => b.SetCond(IrCond.LtS, ccSrc1, ccSrc2),
                    ConditionCode.ge => b.SetCond(IrCond.GeS, ccSrc1, ccSrc2),
                    ConditionCode.le => b.SetCond(IrCond.LeS, ccSrc1, ccSrc2),
                    ConditionCode.g => b.SetCond(IrCond.GtS, ccSrc1, ccSrc2),
                    ConditionCode.s => b.SetCond(IrCond.LtS, ccDst, zero),
                    ConditionCode.ns => b.SetCond(IrCond.GeS, ccDst, zero),
                    _ => default,
                };
            case CcKind.Logic:
                return cc switch
                {
                    ConditionCode.o or ConditionCode.b => I8(0),
                    ConditionCode.no or ConditionCode.ae => I8(1),
                    ConditionCode.e or ConditionCode.be => b.SetCond(IrCond.Eq, ccDst, zero),
                    ConditionCode.ne or ConditionCode.a => b.SetCond(IrCond.Ne, ccDst, zero),
                    ConditionCode.s or ConditionCode.l => b.SetCond(IrCond.LtS, ccDst, zero),
                    ConditionCode.ns or ConditionCode.ge => b.SetCond(IrCond.GeS, ccDst, zero),
                    ConditionCode.le => b.SetCond(IrCond.LeS, ccDst, zero),
                    ConditionCode.g => b.SetCond(IrCond.GtS, ccDst, zero),
                    _ => default,
                };
            case CcKind.Eflags:
                return default;
            default:
                // Every other kind sets ZF and SF from its result; CF has its own shortcuts.
                if (cc is ConditionCode.b or ConditionCode.ae && CarryShortcutExists())
                {
                    var cf = CarryFlag();
                    return cc == ConditionCode.b ? cf : b.Xor(cf, I8(1));
                }

                return cc switch
                {
                    ConditionCode.e => b.SetCond(IrCond.Eq, ccDst, zero),
                    ConditionCode.ne => b.SetCond(IrCond.Ne, ccDst, zero),
                    ConditionCode.s => b.SetCond(IrCond.LtS, ccDst, zero),
                    ConditionCode.ns => b.SetCond(IrCond.GeS, ccDst, zero),
                    _ => default,
                };
        }
    }
}

using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Shifts and rotates: SHL SAL SHR SAR ROL ROR RCL RCR SHLD SHRD, and the flagless BMI2
/// forms SHLX SHRX SARX RORX (SDM Vol. 2B "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD").
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterShift(Emitter?[] t)
    {
        t[(int)Mnemonic.Shl] = static (tr, in i) => tr.Shift(in i, CcKind.Shl);
        t[(int)Mnemonic.Sal] = static (tr, in i) => tr.Shift(in i, CcKind.Shl);
        t[(int)Mnemonic.Shr] = static (tr, in i) => tr.Shift(in i, CcKind.Shr);
        t[(int)Mnemonic.Sar] = static (tr, in i) => tr.Shift(in i, CcKind.Sar);
        t[(int)Mnemonic.Rol] = static (tr, in i) => tr.Rotate(in i, left: true);
        t[(int)Mnemonic.Ror] = static (tr, in i) => tr.Rotate(in i, left: false);
        t[(int)Mnemonic.Rcl] = static (tr, in i) => tr.RotateThroughCarry(in i, left: true);
        t[(int)Mnemonic.Rcr] = static (tr, in i) => tr.RotateThroughCarry(in i, left: false);
        t[(int)Mnemonic.Shld] = static (tr, in i) => tr.DoubleShift(in i, left: true);
        t[(int)Mnemonic.Shrd] = static (tr, in i) => tr.DoubleShift(in i, left: false);
        t[(int)Mnemonic.Shlx] = static (tr, in i) => tr.ShiftNoFlags(in i, IrOpcode.Shl);
        t[(int)Mnemonic.Shrx] = static (tr, in i) => tr.ShiftNoFlags(in i, IrOpcode.Shr);
        t[(int)Mnemonic.Sarx] = static (tr, in i) => tr.ShiftNoFlags(in i, IrOpcode.Sar);
        t[(int)Mnemonic.Rorx] = static (tr, in i) => tr.ShiftNoFlags(in i, IrOpcode.Rotr);
    }

    /// <summary>
    /// Operand <paramref name="n"/> (CL, another register or an immediate) as a shift count of
    /// type <paramref name="t"/>, masked to 5 bits, or 6 for 64-bit operands.
    /// </summary>
    private Operand ShiftCount(in Instruction insn, int n, IrType t)
    {
        ulong mask = t == IrType.I64 ? 0x3fUL : 0x1fUL;
        if (insn.GetOpKind(n) == OpKind.Register)
        {
            return b.And(b.Resize(ReadReg(insn.GetOpRegister(n)), t), Const(mask, t));
        }

        return Const(insn.GetImmediate(n) & mask, t);
    }

    /// <summary>
    /// Records lazy flags as <see cref="SetCc"/> does, except that a count of 0 leaves the flags
    /// as they were. With a variable count each cc slot selects between its old and new value,
    /// so the kind is no longer known at translation time.
    /// </summary>
    private void SetCcUnlessZero(Operand count, CcKind kind, Operand dst, Operand src1, Operand src2)
    {
        if (count.IsConst)
        {
            if (count.Value != 0)
            {
                SetCc(kind, dst, src1, src2);
            }

            return;
        }

        Operand oldOp, oldDst, oldSrc1, oldSrc2;
        if (ccKnown)
        {
            oldOp = I64(CcOp.Make(ccKind, (int)ccType));
            oldDst = b.ZExt(ccDst, IrType.I64);
            oldSrc1 = b.ZExt(ccSrc1, IrType.I64);
            oldSrc2 = b.ZExt(ccSrc2, IrType.I64);
        }
        else
        {
            oldOp = b.LdState(CpuStateOffsets.CcOp, IrType.I64);
            oldDst = b.LdState(CpuStateOffsets.CcDst, IrType.I64);
            oldSrc1 = b.LdState(CpuStateOffsets.CcSrc1, IrType.I64);
            oldSrc2 = b.LdState(CpuStateOffsets.CcSrc2, IrType.I64);
        }

        var keep = b.SetCond(IrCond.Eq, count, Const(0, count.Type));
        b.StState(CpuStateOffsets.CcOp, b.Select(keep, oldOp, I64(CcOp.Make(kind, (int)dst.Type))));
        b.StState(CpuStateOffsets.CcDst, b.Select(keep, oldDst, b.ZExt(dst, IrType.I64)));
        b.StState(CpuStateOffsets.CcSrc1, b.Select(keep, oldSrc1, b.ZExt(src1, IrType.I64)));
        b.StState(CpuStateOffsets.CcSrc2, b.Select(keep, oldSrc2, b.ZExt(src2, IrType.I64)));
        ResetFlagKnowledge();
    }

    /// <summary>
    /// Replaces CF and OF in the materialised flags (rotates change only those two), unless
    /// <paramref name="count"/> is 0. <paramref name="cf"/> and <paramref name="of"/> are 0 or 1.
    /// </summary>
    private void SetCarryOverflowUnlessZero(Operand count, Operand oldFlags, Operand cf, Operand of)
    {
        if (count.IsConstValue(0))
        {
            return;
        }

        var f = b.And(oldFlags, I64(~(ulong)(RFlags.CF | RFlags.OF)));
        f = b.Or(f, b.ZExt(cf, IrType.I64));
        f = b.Or(f, b.Shl(b.ZExt(of, IrType.I64), I64(11)));
        if (!count.IsConst)
        {
            f = b.Select(b.SetCond(IrCond.Eq, count, Const(0, count.Type)), oldFlags, f);
        }

        SetFlagsMaterialized(f);
    }

    /// <summary>Bit <paramref name="bit"/> of <paramref name="v"/> as 0 or 1 of v's type.</summary>
    private Operand BitOf(Operand v, int bit) => b.And(b.Shr(v, Const((ulong)bit, v.Type)), Const(1, v.Type));

    private void Shift(in Instruction insn, CcKind kind)
    {
        // The destination is written even for a count of 0 (a 32-bit register is then zero-extended).
        var dst = LocOf(in insn, 0);
        var n = ShiftCount(in insn, 1, dst.Type);
        var a = Read(dst);
        var r = kind switch
        {
            CcKind.Shl => b.Shl(a, n),
            CcKind.Shr => b.Shr(a, n),
            _ => b.Sar(a, n),
        };
        Write(dst, r);
        SetCcUnlessZero(n, kind, r, a, n);
    }

    /// <summary>
    /// ROL/ROR: rotate by the masked count modulo the width. CF and OF change whenever the
    /// masked count is non-zero, even if the rotation is a whole turn: ROL sets CF to the
    /// result's low bit and OF to MSB xor CF; ROR sets CF to the MSB and OF to the xor of the
    /// two top bits (OF is defined for a count of 1; other counts give the same formula).
    /// </summary>
    private void Rotate(in Instruction insn, bool left)
    {
        var dst = LocOf(in insn, 0);
        var t = dst.Type;
        int w = t.Bits();
        var n = ShiftCount(in insn, 1, t);
        var a = Read(dst);
        var r = left ? b.Rotl(a, n) : b.Rotr(a, n);
        Write(dst, r);
        if (n.IsConstValue(0))
        {
            return;
        }

        var msb = BitOf(r, w - 1);
        Operand cf, of;
        if (left)
        {
            cf = b.And(r, Const(1, t));
            of = b.Xor(msb, cf);
        }
        else
        {
            cf = msb;
            of = b.Xor(msb, BitOf(r, w - 2));
        }

        SetCarryOverflowUnlessZero(n, ArithFlags(), cf, of);
    }

    /// <summary>
    /// RCL/RCR rotate the (width + 1)-bit value CF:dest. The count is masked to 5 (6) bits and,
    /// for 8- and 16-bit operands, taken modulo 9 or 17. For a count k in 1..width:
    /// RCL gives (a &lt;&lt; k) | (CF &lt;&lt; (k - 1)) | (a &gt;&gt; (width + 1 - k)) with CF = bit (width - k) of a;
    /// RCR gives (a &gt;&gt; k) | (CF &lt;&lt; (width - k)) | (a &lt;&lt; (width + 1 - k)) with CF = bit (k - 1) of a.
    /// IR shifts by the width or more give 0, so k = 0 leaves the value as it was.
    /// </summary>
    private void RotateThroughCarry(in Instruction insn, bool left)
    {
        var dst = LocOf(in insn, 0);
        var t = dst.Type;
        int w = t.Bits();
        var n = ShiftCount(in insn, 1, t);
        if (w == 8)
        {
            n = ModuloUpTo31(n, 9);
        }
        else if (w == 16)
        {
            n = ModuloUpTo31(n, 17);
        }

        var a = Read(dst);
        var flags = ArithFlags();
        var cin = b.Trunc(b.And(flags, I64(1)), t);
        var one = Const(1, t);
        var wide = b.Sub(Const((ulong)w + 1, t), n);
        Operand r, cout, of;
        if (left)
        {
            r = b.Or(b.Or(b.Shl(a, n), b.Shl(cin, b.Sub(n, one))), b.Shr(a, wide));
            cout = b.And(b.Shr(a, b.Sub(Const((ulong)w, t), n)), one);
            of = b.Xor(BitOf(r, w - 1), cout);
        }
        else
        {
            r = b.Or(b.Or(b.Shr(a, n), b.Shl(cin, b.Sub(Const((ulong)w, t), n))), b.Shl(a, wide));
            cout = b.And(b.Shr(a, b.Sub(n, one)), one);
            of = b.Xor(BitOf(r, w - 1), BitOf(r, w - 2));
        }

        Write(dst, r);
        SetCarryOverflowUnlessZero(n, flags, cout, of);
    }

    /// <summary><paramref name="n"/> (0..31) modulo <paramref name="m"/> (9 or 17), by conditional subtraction.</summary>
    private Operand ModuloUpTo31(Operand n, ulong m)
    {
        if (n.IsConst)
        {
            return Const(n.Value % m, n.Type);
        }

        if (m * 2 <= 31)
        {
            var twice = Const(m * 2, n.Type);
            n = b.Select(b.SetCond(IrCond.GeU, n, twice), b.Sub(n, twice), n);
        }

        var once = Const(m, n.Type);
        return b.Select(b.SetCond(IrCond.GeU, n, once), b.Sub(n, once), n);
    }

    /// <summary>
    /// SHLD dest, src, count shifts dest left filling from the top of src; SHRD shifts right
    /// filling from the bottom of src. Flags as SHL/SHR of dest (CcKind.Shl/Shr, src1 = the
    /// original dest). A count above the width (16-bit operands) gives an undefined result.
    /// </summary>
    private void DoubleShift(in Instruction insn, bool left)
    {
        var dst = LocOf(in insn, 0);
        var t = dst.Type;
        var src = ReadOp(in insn, 1, t);
        var n = ShiftCount(in insn, 2, t);
        var a = Read(dst);
        var fill = b.Sub(Const((ulong)t.Bits(), t), n);
        var r = left
            ? b.Or(b.Shl(a, n), b.Shr(src, fill))
            : b.Or(b.Shr(a, n), b.Shl(src, fill));
        Write(dst, r);
        SetCcUnlessZero(n, left ? CcKind.Shl : CcKind.Shr, r, a, n);
    }

    /// <summary>SHLX SHRX SARX (count from a register) and RORX (immediate count): no flags change.</summary>
    private void ShiftNoFlags(in Instruction insn, IrOpcode op)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var n = ShiftCount(in insn, 2, t);
        var r = op switch
        {
            IrOpcode.Shl => b.Shl(src, n),
            IrOpcode.Shr => b.Shr(src, n),
            IrOpcode.Sar => b.Sar(src, n),
            _ => b.Rotr(src, n),
        };
        WriteReg(insn.Op0Register, r);
    }
}

using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// BMI1 ANDN BLSI BLSMSK BLSR BEXTR, BMI2 BZHI PDEP PEXT, and ADX ADCX ADOX (SDM Vol. 2A/2B).
/// BMI2's flagless shifts are in EmitShift.cs and MULX in EmitMulDiv.cs.
/// </summary>
public sealed partial class Translator
{
    /// <summary>Called from RegisterBit.</summary>
    private static void RegisterBmiAdx(Emitter?[] t)
    {
        t[(int)Mnemonic.Andn] = static (tr, in i) => tr.Andn(in i);
        t[(int)Mnemonic.Blsi] = static (tr, in i) => tr.LowestSetBit(in i, Mnemonic.Blsi);
        t[(int)Mnemonic.Blsmsk] = static (tr, in i) => tr.LowestSetBit(in i, Mnemonic.Blsmsk);
        t[(int)Mnemonic.Blsr] = static (tr, in i) => tr.LowestSetBit(in i, Mnemonic.Blsr);
        t[(int)Mnemonic.Bextr] = static (tr, in i) => tr.Bextr(in i);
        t[(int)Mnemonic.Bzhi] = static (tr, in i) => tr.Bzhi(in i);
        t[(int)Mnemonic.Pdep] = static (tr, in i) => tr.BitGatherScatter(in i, BitHelpers.Pdep);
        t[(int)Mnemonic.Pext] = static (tr, in i) => tr.BitGatherScatter(in i, BitHelpers.Pext);
        t[(int)Mnemonic.Adcx] = static (tr, in i) => tr.AddWithFlagCarry(in i, RFlags.CF);
        t[(int)Mnemonic.Adox] = static (tr, in i) => tr.AddWithFlagCarry(in i, RFlags.OF);
    }

    /// <summary>ANDN dest, src1, src2: dest = ~src1 &amp; src2; SF and ZF from the result, CF = OF = 0.</summary>
    private void Andn(in Instruction insn)
    {
        var t = TypeOf(in insn, 0);
        var r = b.And(b.Not(ReadOp(in insn, 1, t)), ReadOp(in insn, 2, t));
        WriteReg(insn.Op0Register, r);
        SetCc(CcKind.Logic, r, r, Const(0, t));
    }

    /// <summary>
    /// BLSI (isolate the lowest set bit: CF = source non-zero), BLSMSK (mask up to it) and
    /// BLSR (clear it) (CF = source zero for both). ZF and SF from the result; OF = 0; AF (0) and PF (from the result) undefined.
    /// </summary>
    private void LowestSetBit(in Instruction insn, Mnemonic m)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var minusOne = b.Sub(src, Const(1, t));
        var r = m switch
        {
            Mnemonic.Blsi => b.And(b.Neg(src), src),
            Mnemonic.Blsmsk => b.Xor(minusOne, src),
            _ => b.And(minusOne, src),
        };
        WriteReg(insn.Op0Register, r);
        var cf = b.SetCond(m == Mnemonic.Blsi ? IrCond.Ne : IrCond.Eq, src, Const(0, t), IrType.I64);
        SetFlagsMaterialized(b.Or(cf, ZeroSignFlags(r)));
    }

    /// <summary>ZF and SF of <paramref name="r"/> as RFLAGS bits, and PF (undefined here) as AMD processors set it.</summary>
    private Operand ZeroSignFlags(Operand r)
    {
        var t = r.Type;
        var zf = b.Shl(b.SetCond(IrCond.Eq, r, Const(0, t), IrType.I64), I64(6));
        var sf = b.Shl(b.SetCond(IrCond.LtS, r, Const(0, t), IrType.I64), I64(7));
        return b.Or(b.Or(zf, sf), ParityFlag(r));
    }

    /// <summary>
    /// BEXTR dest, src, control: the field of control[15:8] bits at control[7:0] (bits past
    /// the width read as 0). ZF from the result; CF = OF = 0; AF, SF, PF undefined.
    /// </summary>
    private void Bextr(in Instruction insn)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var control = ReadOp(in insn, 2, t);
        var start = b.And(control, Const(0xff, t));
        var length = b.And(b.Shr(control, Const(8, t)), Const(0xff, t));

        // IR shifts by the width or more give 0, so a length of the width or more keeps every bit.
        var mask = b.Sub(b.Shl(Const(1, t), length), Const(1, t));
        var r = b.And(b.Shr(src, start), mask);
        WriteReg(insn.Op0Register, r);
        SetCc(CcKind.Logic, r, r, Const(0, t));
    }

    /// <summary>
    /// BZHI dest, src, index: src with the bits from index[7:0] up cleared; CF = the index is
    /// past the top bit (the source is then kept). ZF and SF from the result; OF = 0.
    /// </summary>
    private void Bzhi(in Instruction insn)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var n = b.And(ReadOp(in insn, 2, t), Const(0xff, t));
        var mask = b.Sub(b.Shl(Const(1, t), n), Const(1, t));
        var r = b.And(src, mask);
        WriteReg(insn.Op0Register, r);
        var cf = b.SetCond(IrCond.GtU, n, Const((ulong)t.Bits() - 1, t), IrType.I64);
        SetFlagsMaterialized(b.Or(cf, ZeroSignFlags(r)));
    }

    /// <summary>PDEP/PEXT dest, src1, mask: deposit or extract the bits of src1 under mask; no flags change.</summary>
    private void BitGatherScatter(in Instruction insn, HelperInfo helper)
    {
        var t = TypeOf(in insn, 0);
        var r = b.Call(helper, ReadOp(in insn, 1, t), ReadOp(in insn, 2, t));
        WriteReg(insn.Op0Register, b.Trunc(r, t));
    }

    /// <summary>
    /// ADCX (carry in and out through CF) and ADOX (through OF): dest += src + carry; no other
    /// flag changes, so two carry chains can be interleaved.
    /// </summary>
    private void AddWithFlagCarry(in Instruction insn, RFlags carryFlag)
    {
        var t = TypeOf(in insn, 0);
        int bit = System.Numerics.BitOperations.TrailingZeroCount((ulong)carryFlag);
        var flags = ArithFlags();
        var cin = b.Trunc(b.And(b.Shr(flags, I64((ulong)bit)), I64(1)), t);
        var a = ReadReg(insn.Op0Register);
        var sum = b.Add(b.Add(a, ReadOp(in insn, 1, t)), cin);
        WriteReg(insn.Op0Register, sum);

        // With a carry in, the sum wrapped if it is at most a; without, if it is below a.
        var cout = b.Select(b.Trunc(cin, IrType.I8), b.SetCond(IrCond.LeU, sum, a, IrType.I64), b.SetCond(IrCond.LtU, sum, a, IrType.I64));
        var cleared = b.And(flags, I64(~(ulong)carryFlag));
        SetFlagsMaterialized(b.Or(cleared, b.Shl(cout, I64((ulong)bit))));
    }
}

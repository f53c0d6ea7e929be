using Emulator.Ir;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Bit operations: BT BTS BTR BTC, BSF BSR, TZCNT LZCNT POPCNT, BSWAP MOVBE (SDM Vol. 2A/2B);
/// the BMI1/BMI2/ADX group is in EmitBmiAdx.cs.
/// </summary>
public sealed partial class Translator
{
    private enum BitOp
    {
        Test,
        Set,
        Reset,
        Complement,
    }

    static partial void RegisterBit(Emitter?[] t)
    {
        t[(int)Mnemonic.Bt] = static (tr, in i) => tr.BitTest(in i, BitOp.Test);
        t[(int)Mnemonic.Bts] = static (tr, in i) => tr.BitTest(in i, BitOp.Set);
        t[(int)Mnemonic.Btr] = static (tr, in i) => tr.BitTest(in i, BitOp.Reset);
        t[(int)Mnemonic.Btc] = static (tr, in i) => tr.BitTest(in i, BitOp.Complement);
        t[(int)Mnemonic.Bsf] = static (tr, in i) => tr.BitScan(in i, forward: true);
        t[(int)Mnemonic.Bsr] = static (tr, in i) => tr.BitScan(in i, forward: false);
        t[(int)Mnemonic.Tzcnt] = static (tr, in i) => tr.CountZeros(in i, trailing: true);
        t[(int)Mnemonic.Lzcnt] = static (tr, in i) => tr.CountZeros(in i, trailing: false);
        t[(int)Mnemonic.Popcnt] = static (tr, in i) => tr.Popcnt(in i);
        t[(int)Mnemonic.Bswap] = static (tr, in i) => tr.Bswap(in i);
        t[(int)Mnemonic.Movbe] = static (tr, in i) => tr.WriteOp(in i, 0, tr.b.Bswap(tr.ReadOp(in i, 1)));
        RegisterBmiAdx(t);
    }

    /// <summary>
    /// BT/BTS/BTR/BTC base, offset (SDM Vol. 2A "BT", Bit(BitBase, BitOffset)). A register base
    /// or an immediate offset takes the offset modulo the width. A memory base with a register
    /// offset addresses any bit: the signed offset selects the operand-sized word
    /// (offset SAR log2(width)) * size bytes away, then the bit in it. CF = the bit before the
    /// change; ZF is unchanged; OF, SF, AF and PF are undefined (kept here). With LOCK the
    /// update is one host atomic OR, AND or XOR.
    /// </summary>
    private void BitTest(in Instruction insn, BitOp op)
    {
        var t = TypeOf(in insn, 0);
        int w = t.Bits();
        Loc dst;
        Operand index;
        if (insn.Op0Kind == OpKind.Memory && insn.Op1Kind == OpKind.Register)
        {
            var offset = ReadReg(insn.Op1Register);
            int log2Width = System.Numerics.BitOperations.Log2((uint)w);
            var words = b.Sar(b.SExt(offset, IrType.I64), I64((ulong)log2Width));
            var address = b.Add(EffectiveAddress(in insn), b.Shl(words, I64((ulong)(log2Width - 3))));
            if (!Mode.Is64)
            {
                address = b.And(address, I64(0xffff_ffff));
            }

            dst = new Loc(true, Register.None, address, t);
            index = b.And(offset, Const((ulong)w - 1, t));
        }
        else
        {
            dst = LocOf(in insn, 0);
            index = insn.Op1Kind == OpKind.Register
                ? b.And(ReadReg(insn.Op1Register), Const((ulong)w - 1, t))
                : Const(insn.GetImmediate(1) & ((ulong)w - 1), t);
        }

        var flags = ArithFlags();
        var mask = b.Shl(Const(1, t), index);
        Operand old;
        if (op != BitOp.Test && IsLocked(in insn))
        {
            old = op switch
            {
                BitOp.Set => b.AtomicRmw(AtomicOp.Or, dst.Address, mask),
                BitOp.Reset => b.AtomicRmw(AtomicOp.And, dst.Address, b.Not(mask)),
                _ => b.AtomicRmw(AtomicOp.Xor, dst.Address, mask),
            };
            stored = true;
        }
        else
        {
            old = Read(dst);
            switch (op)
            {
                case BitOp.Set: Write(dst, b.Or(old, mask)); break;
                case BitOp.Reset: Write(dst, b.And(old, b.Not(mask))); break;
                case BitOp.Complement: Write(dst, b.Xor(old, mask)); break;
            }
        }

        var cf = b.ZExt(b.And(b.Shr(old, index), Const(1, t)), IrType.I64);
        SetFlagsMaterialized(b.Or(b.And(flags, I64(~(ulong)RFlags.CF)), cf));
    }

    /// <summary>
    /// BSF/BSR: the index of the lowest (highest) set bit. For a zero source ZF = 1 and the
    /// destination keeps its value, except that a 32-bit destination is still zero-extended as
    /// Intel processors do (AMD documents the register as unchanged). CF, OF, SF, AF and PF
    /// are undefined: PF is the parity of the index (of 0 for a zero source), the rest 0, as
    /// AMD processors give.
    /// </summary>
    private void BitScan(in Instruction insn, bool forward)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var old = ReadReg(insn.Op0Register);
        var zero = b.SetCond(IrCond.Eq, src, Const(0, t));
        var index = forward ? b.Ctz(src) : b.Sub(Const((ulong)t.Bits() - 1, t), b.Clz(src));
        WriteReg(insn.Op0Register, b.Select(zero, old, index));
        var pf = ParityFlag(b.Select(zero, Const(0, t), index));
        SetFlagsMaterialized(b.Or(b.Shl(b.ZExt(zero, IrType.I64), I64(6)), pf));
    }

    /// <summary>PF of <paramref name="r"/> as an RFLAGS bit: set when its low byte has an even number of ones.</summary>
    private Operand ParityFlag(Operand r)
    {
        var ones = b.Popcnt(b.ZExt(b.Trunc(r, IrType.I8), IrType.I64));
        return b.Shl(b.Xor(b.And(ones, I64(1)), I64(1)), I64(2));
    }

    /// <summary>TZCNT/LZCNT: the count (the width for 0); CF = source was 0, ZF = result is 0; OF, SF, AF, PF undefined (0).</summary>
    private void CountZeros(in Instruction insn, bool trailing)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var r = trailing ? b.Ctz(src) : b.Clz(src);
        WriteReg(insn.Op0Register, r);
        var cf = b.ZExt(b.SetCond(IrCond.Eq, src, Const(0, t)), IrType.I64);
        var zf = b.ZExt(b.SetCond(IrCond.Eq, r, Const(0, t)), IrType.I64);
        SetFlagsMaterialized(b.Or(cf, b.Shl(zf, I64(6))));
    }

    /// <summary>POPCNT: ZF = source was 0; CF, OF, SF, AF and PF are cleared.</summary>
    private void Popcnt(in Instruction insn)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        WriteReg(insn.Op0Register, b.Popcnt(src));
        var zf = b.ZExt(b.SetCond(IrCond.Eq, src, Const(0, t)), IrType.I64);
        SetFlagsMaterialized(b.Shl(zf, I64(6)));
    }

    /// <summary>BSWAP r32/r64. BSWAP r16 is undefined; Intel processors clear the low 16 bits, so does this.</summary>
    private void Bswap(in Instruction insn)
    {
        var r = insn.Op0Register;
        WriteReg(r, r.GetSize() == 2 ? I16(0) : b.Bswap(ReadReg(r)));
    }
}

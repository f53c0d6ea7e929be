using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Helpers;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>Multiply and divide: MUL IMUL (one, two and three operands) DIV IDIV, and BMI2 MULX (SDM Vol. 2A/2B).</summary>
public sealed partial class Translator
{
    static partial void RegisterMulDiv(Emitter?[] t)
    {
        t[(int)Mnemonic.Mul] = static (tr, in i) => tr.MulAccumulator(in i, signed: false);
        t[(int)Mnemonic.Imul] = static (tr, in i) => tr.Imul(in i);
        t[(int)Mnemonic.Div] = static (tr, in i) => tr.Divide(in i, signed: false);
        t[(int)Mnemonic.Idiv] = static (tr, in i) => tr.Divide(in i, signed: true);
        t[(int)Mnemonic.Mulx] = static (tr, in i) => tr.Mulx(in i);
    }

    /// <summary>AL, AX, EAX or RAX for an operand of type <paramref name="t"/>.</summary>
    private static Register Accumulator(IrType t) => t switch
    {
        IrType.I8 => Register.AL,
        IrType.I16 => Register.AX,
        IrType.I32 => Register.EAX,
        _ => Register.RAX,
    };

    /// <summary>The register holding the high half of a wide product or dividend: AH, DX, EDX or RDX.</summary>
    private static Register HighHalf(IrType t) => t switch
    {
        IrType.I8 => Register.AH,
        IrType.I16 => Register.DX,
        IrType.I32 => Register.EDX,
        _ => Register.RDX,
    };

    private void Imul(in Instruction insn)
    {
        if (insn.OpCount == 1)
        {
            MulAccumulator(in insn, signed: true);
            return;
        }

        // IMUL r, r/m and IMUL r, r/m, imm: the product truncated to the operand size; CF = OF = it was truncated.
        var t = TypeOf(in insn, 0);
        var x = ReadOp(in insn, insn.OpCount == 2 ? 0 : 1, t);
        var y = ReadOp(in insn, insn.OpCount == 2 ? 1 : 2, t);
        var lo = b.Mul(x, y);
        var hi = b.MulHiS(x, y);
        WriteReg(insn.Op0Register, lo);
        SetCc(CcKind.IMul, lo, hi, Const(0, t));
    }

    /// <summary>MUL r/m and one-operand IMUL: AX = AL * src, or DX:AX, EDX:EAX, RDX:RAX = accumulator * src.</summary>
    private void MulAccumulator(in Instruction insn, bool signed)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 0, t);
        var acc = ReadReg(Accumulator(t));
        Operand lo, hi;
        if (t == IrType.I8)
        {
            var product = signed
                ? b.Mul(b.SExt(acc, IrType.I16), b.SExt(src, IrType.I16))
                : b.Mul(b.ZExt(acc, IrType.I16), b.ZExt(src, IrType.I16));
            WriteReg(Register.AX, product);
            lo = b.Trunc(product, IrType.I8);
            hi = b.Trunc(b.Shr(product, I16(8)), IrType.I8);
        }
        else
        {
            lo = b.Mul(acc, src);
            hi = signed ? b.MulHiS(acc, src) : b.MulHiU(acc, src);
            WriteReg(Accumulator(t), lo);
            WriteReg(HighHalf(t), hi);
        }

        SetCc(signed ? CcKind.IMul : CcKind.Mul, lo, hi, Const(0, t));
    }

    /// <summary>
    /// DIV/IDIV r/m: the double-width accumulator divided by the operand; quotient to AL/AX/EAX/RAX,
    /// remainder to AH/DX/EDX/RDX. #DE on a zero divisor or a quotient too wide (raised by the
    /// helper before anything is written). The flags are undefined; they are left as they were.
    /// </summary>
    private void Divide(in Instruction insn, bool signed)
    {
        var t = TypeOf(in insn, 0);
        var divisor = ReadOp(in insn, 0, t);
        var lo = ReadReg(Accumulator(t));
        var hi = ReadReg(HighHalf(t));
        var size = I64((ulong)t.Bytes());
        var q = b.Trunc(b.Call(signed ? DivHelpers.DivS : DivHelpers.DivU, hi, lo, divisor, size), t);
        var r = b.Trunc(b.Call(signed ? DivHelpers.RemS : DivHelpers.RemU, hi, lo, divisor, size), t);
        if (t == IrType.I8)
        {
            WriteReg(Register.AX, b.Or(b.ZExt(q, IrType.I16), b.Shl(b.ZExt(r, IrType.I16), I16(8))));
        }
        else
        {
            WriteReg(Accumulator(t), q);
            WriteReg(HighHalf(t), r);
        }
    }

    /// <summary>MULX hi, lo, r/m: unsigned EDX/RDX * r/m without touching the flags; the high half is written last.</summary>
    private void Mulx(in Instruction insn)
    {
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 2, t);
        var d = ReadReg(HighHalf(t));
        var lo = b.Mul(d, src);
        var hi = b.MulHiU(d, src);
        WriteReg(insn.Op1Register, lo);
        WriteReg(insn.Op0Register, hi);
    }
}

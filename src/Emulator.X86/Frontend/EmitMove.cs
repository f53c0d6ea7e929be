using Emulator.Ir;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>Data movement: MOV MOVZX MOVSX MOVSXD LEA CMOVcc SETcc NOP, and XCHG of two registers.</summary>
public sealed partial class Translator
{
    static partial void RegisterMove(Emitter?[] t)
    {
        t[(int)Mnemonic.Mov] = static (tr, in i) => tr.Mov(in i);
        t[(int)Mnemonic.Movzx] = static (tr, in i) => tr.WriteOp(in i, 0, tr.b.ZExt(tr.ReadOp(in i, 1), TypeOf(in i, 0)));
        t[(int)Mnemonic.Movsx] = static (tr, in i) => tr.WriteOp(in i, 0, tr.b.SExt(tr.ReadOp(in i, 1), TypeOf(in i, 0)));
        t[(int)Mnemonic.Movsxd] = static (tr, in i) => tr.WriteOp(in i, 0, tr.b.Resize(tr.b.SExt(tr.ReadOp(in i, 1), IrType.I64), TypeOf(in i, 0)));
        t[(int)Mnemonic.Lea] = static (tr, in i) => tr.Lea(in i);
        t[(int)Mnemonic.Nop] = static (tr, in i) => { };
        t[(int)Mnemonic.Pause] = static (tr, in i) => { };
        t[(int)Mnemonic.Endbr64] = static (tr, in i) => { };
        t[(int)Mnemonic.Endbr32] = static (tr, in i) => { };
        foreach (var m in new[]
                 {
                     Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
                     Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
                     Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
                 })
        {
            t[(int)m] = static (tr, in i) => tr.Cmov(in i);
        }

        foreach (var m in new[]
                 {
                     Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne,
                     Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
                     Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg,
                 })
        {
            t[(int)m] = static (tr, in i) => tr.WriteOp(in i, 0, tr.Condition(i.ConditionCode));
        }
    }

    private void Mov(in Instruction insn)
    {
        if (insn.Op0Kind == OpKind.Register && insn.Op0Register.IsSegmentRegister())
        {
            MoveToSegment(in insn);
            return;
        }

        if ((insn.Op0Kind == OpKind.Register && (insn.Op0Register.IsCR() || insn.Op0Register.IsDR()))
            || (insn.Op1Kind == OpKind.Register && (insn.Op1Register.IsCR() || insn.Op1Register.IsDR())))
        {
            MoveSystemRegister(in insn);
            return;
        }

        var dst = LocOf(in insn, 0);
        if (insn.Op1Kind == OpKind.Register && insn.Op1Register.IsSegmentRegister())
        {
            // MOV r32/r64, Sreg zero-extends the selector (SDM Vol. 2B MOV).
            Write(dst, b.ZExt(ReadReg(insn.Op1Register), dst.Type));
            return;
        }

        if (insn.Op1Kind == OpKind.Memory && insn.Op0Kind == OpKind.Register)
        {
            WriteReg(insn.Op0Register, LoadMem(EffectiveAddress(in insn), dst.Type));
            return;
        }

        Write(dst, ReadOp(in insn, 1, dst.Type));
    }

    /// <summary>LEA: the offset only (no segment base), then truncated to the operand size.</summary>
    private void Lea(in Instruction insn) => WriteReg(insn.Op0Register, b.Resize(Offset(in insn), TypeOf(in insn, 0)));

    private void Cmov(in Instruction insn)
    {
        // The source is read (and may fault) whether or not the condition holds; a 32-bit
        // destination is zero-extended even when the move does not happen (SDM Vol. 2A CMOVcc).
        var t = TypeOf(in insn, 0);
        var src = ReadOp(in insn, 1, t);
        var old = ReadReg(insn.Op0Register);
        var cond = Condition(insn.ConditionCode);
        WriteReg(insn.Op0Register, b.Select(cond, src, old));
    }
}

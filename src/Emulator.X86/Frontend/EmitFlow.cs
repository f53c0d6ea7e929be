using Emulator.Ir;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>Control flow: JMP Jcc CALL RET LOOP LOOPE LOOPNE JCXZ JECXZ JRCXZ (near forms).</summary>
public sealed partial class Translator
{
    static partial void RegisterFlow(Emitter?[] t)
    {
        t[(int)Mnemonic.Jmp] = static (tr, in i) => tr.Jmp(in i);
        foreach (var m in new[]
                 {
                     Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe, Mnemonic.Ja,
                     Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg,
                 })
        {
            t[(int)m] = static (tr, in i) => tr.Jcc(in i);
        }

        t[(int)Mnemonic.Call] = static (tr, in i) => tr.Call(in i);
        t[(int)Mnemonic.Ret] = static (tr, in i) => tr.Ret(in i);
        t[(int)Mnemonic.Retf] = static (tr, in i) => tr.Ret(in i);
        t[(int)Mnemonic.Loop] = static (tr, in i) => tr.Loop(in i, null);
        t[(int)Mnemonic.Loope] = static (tr, in i) => tr.Loop(in i, true);
        t[(int)Mnemonic.Loopne] = static (tr, in i) => tr.Loop(in i, false);
        t[(int)Mnemonic.Jcxz] = static (tr, in i) => tr.JumpIfCounterZero(in i, IrType.I16);
        t[(int)Mnemonic.Jecxz] = static (tr, in i) => tr.JumpIfCounterZero(in i, IrType.I32);
        t[(int)Mnemonic.Jrcxz] = static (tr, in i) => tr.JumpIfCounterZero(in i, IrType.I64);
    }

    /// <summary>A branch target wrapped to the operand size (IP and EIP wrap; SDM Vol. 2A JMP).</summary>
    private static ulong BranchTarget(in Instruction insn) => insn.NearBranchTarget;

    /// <summary>JMP/CALL m16:16, m16:32 or m16:64: an indirect far transfer.</summary>
    private static bool IsFarPointer(in Instruction insn) =>
        insn.Op0Kind == OpKind.Memory && insn.MemorySize is MemorySize.SegPtr16 or MemorySize.SegPtr32 or MemorySize.SegPtr64;

    private bool IsNearBranch(in Instruction insn) =>
        insn.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64;

    /// <summary>Wraps a computed target to the operand size of the branch.</summary>
    private Operand WrapTarget(Operand target, int operandBytes) =>
        operandBytes >= 8 ? b.ZExt(target, IrType.I64) : b.ZExt(b.Trunc(target, T(operandBytes)), IrType.I64);

    private void Jmp(in Instruction insn)
    {
        if (IsNearBranch(in insn))
        {
            EndWithGoto(BranchTarget(in insn));
            return;
        }

        if (insn.Op0Kind is OpKind.Register or OpKind.Memory && !IsFarPointer(in insn))
        {
            EndWithGotoIndirect(WrapTarget(ReadOp(in insn, 0), SizeOf(in insn, 0)));
            return;
        }

        FarTransfer(in insn, call: false);
    }

    private void Jcc(in Instruction insn)
    {
        b.ExitIf(Condition(insn.ConditionCode), BranchTarget(in insn));
        EndWithGoto(NextPc);
    }

    private void Call(in Instruction insn)
    {
        int size = insn.StackPointerIncrement < 0 ? -insn.StackPointerIncrement : 8;
        if (IsNearBranch(in insn))
        {
            Push(Const(NextPc, T(size)));
            EndWithGoto(BranchTarget(in insn));
            return;
        }

        if (insn.Op0Kind is OpKind.Register or OpKind.Memory && !IsFarPointer(in insn))
        {
            var target = WrapTarget(ReadOp(in insn, 0), SizeOf(in insn, 0));
            Push(Const(NextPc, T(size)));
            EndWithGotoIndirect(target);
            return;
        }

        FarTransfer(in insn, call: true);
    }

    private void Ret(in Instruction insn)
    {
        if (insn.Code is Code.Retfw or Code.Retfd or Code.Retfq or Code.Retfw_imm16 or Code.Retfd_imm16 or Code.Retfq_imm16)
        {
            FarReturn(in insn);
            return;
        }

        int size = insn.Code switch
        {
            Code.Retnw or Code.Retnw_imm16 => 2,
            Code.Retnd or Code.Retnd_imm16 => 4,
            _ => 8,
        };
        var target = Pop(T(size));
        if (insn.Op0Kind == OpKind.Immediate16)
        {
            // RET imm16 releases imm16 more bytes of stack.
            int asz = StackAddressSize;
            var sp = b.Add(Gpr64((int)Gpr.Rsp), I64(insn.Immediate16));
            SetStackPointer(WrapTo(sp, asz), asz);
        }

        EndWithGotoIndirect(b.ZExt(target, IrType.I64));
    }

    /// <summary>LOOP/LOOPE/LOOPNE: decrement the count register (sized by the address size), branch while non-zero.</summary>
    private void Loop(in Instruction insn, bool? zf)
    {
        var counter = CounterRegister(in insn);
        var t = T(counter.GetSize());
        var count = b.Sub(ReadReg(counter), Const(1, t));
        WriteReg(counter, count);
        var taken = b.SetCond(IrCond.Ne, count, Const(0, t));
        if (zf is { } wantZf)
        {
            var z = Condition(ConditionCode.e);
            taken = b.And(taken, wantZf ? z : b.Xor(z, I8(1)));
        }

        b.ExitIf(taken, BranchTarget(in insn));
        EndWithGoto(NextPc);
    }

    private void JumpIfCounterZero(in Instruction insn, IrType t)
    {
        var reg = t switch { IrType.I16 => Register.CX, IrType.I32 => Register.ECX, _ => Register.RCX };
        b.ExitIf(b.SetCond(IrCond.Eq, ReadReg(reg), Const(0, t)), BranchTarget(in insn));
        EndWithGoto(NextPc);
    }

    /// <summary>CX, ECX or RCX, by the instruction's address size.</summary>
    private static Register CounterRegister(in Instruction insn) => insn.Op0Kind switch
    {
        _ when insn.Code is Code.Loop_rel8_16_CX or Code.Loop_rel8_32_CX or Code.Loope_rel8_16_CX or Code.Loope_rel8_32_CX
            or Code.Loopne_rel8_16_CX or Code.Loopne_rel8_32_CX => Register.CX,
        _ when insn.Code is Code.Loop_rel8_16_ECX or Code.Loop_rel8_32_ECX or Code.Loop_rel8_64_ECX or Code.Loope_rel8_16_ECX
            or Code.Loope_rel8_32_ECX or Code.Loope_rel8_64_ECX or Code.Loopne_rel8_16_ECX or Code.Loopne_rel8_32_ECX
            or Code.Loopne_rel8_64_ECX => Register.ECX,
        _ => Register.RCX,
    };
}

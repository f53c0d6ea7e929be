using Emulator.Ir;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>Stack: PUSH POP LEAVE, PUSHF/POPF.</summary>
public sealed partial class Translator
{
    static partial void RegisterStack(Emitter?[] t)
    {
        t[(int)Mnemonic.Push] = static (tr, in i) => tr.PushOp(in i);
        t[(int)Mnemonic.Pop] = static (tr, in i) => tr.PopOp(in i);
        t[(int)Mnemonic.Leave] = static (tr, in i) => tr.Leave(in i);
        t[(int)Mnemonic.Pushf] = static (tr, in i) => tr.Pushf(in i);
        t[(int)Mnemonic.Pushfd] = static (tr, in i) => tr.Pushf(in i);
        t[(int)Mnemonic.Pushfq] = static (tr, in i) => tr.Pushf(in i);
        t[(int)Mnemonic.Popf] = static (tr, in i) => tr.Popf(in i);
        t[(int)Mnemonic.Popfd] = static (tr, in i) => tr.Popf(in i);
        t[(int)Mnemonic.Popfq] = static (tr, in i) => tr.Popf(in i);
    }

    private void PushOp(in Instruction insn)
    {
        var t = StackOpType(in insn);
        if (insn.Op0Kind == OpKind.Register && insn.Op0Register.IsSegmentRegister())
        {
            // PUSH Sreg: a 16-bit selector zero-extended to the push size.
            Push(b.ZExt(ReadReg(insn.Op0Register), t));
            return;
        }

        // PUSH RSP pushes the value before the decrement (SDM Vol. 2B PUSH); reading first does that.
        Push(insn.Op0Kind == OpKind.Register ? b.Resize(ReadReg(insn.Op0Register), t) : ReadOp(in insn, 0, t));
    }

    private void PopOp(in Instruction insn)
    {
        if (insn.Op0Kind == OpKind.Register && insn.Op0Register.IsSegmentRegister())
        {
            PopSegment(in insn);
            return;
        }

        var t = StackOpType(in insn);
        if (insn.Op0Kind == OpKind.Memory)
        {
            // POP m: RSP is incremented before the destination address is computed (SDM Vol. 2B POP).
            var v = Pop(t);
            StoreMem(EffectiveAddress(in insn), v);
            return;
        }

        WriteReg(insn.Op0Register, Pop(t));
    }

    private void Leave(in Instruction insn)
    {
        // LEAVE: RSP = RBP (by the stack address size), then pop RBP (by the operand size).
        int asz = StackAddressSize;
        var rbp = Gpr64((int)Gpr.Rbp);
        SetStackPointer(WrapTo(rbp, asz), asz);
        // Iced reports no stack increment for LEAVE; its operand size is in the code.
        var t = insn.Code switch { Code.Leavew => IrType.I16, Code.Leaved => IrType.I32, _ => IrType.I64 };
        WriteReg(t switch { IrType.I16 => Register.BP, IrType.I32 => Register.EBP, _ => Register.RBP }, Pop(t));
    }

    /// <summary>The RFLAGS image PUSHF stores: RF and VM read as 0 (SDM Vol. 2B PUSHF).</summary>
    private Operand FullRflags()
    {
        var rest = b.And(b.LdState(CpuStateOffsets.Rflags, IrType.I64), I64(~(ulong)(RFlags.Arith | RFlags.RF | RFlags.VM)));
        return b.Or(b.Or(rest, ArithFlags()), I64((ulong)RFlags.Fixed1));
    }

    private void Pushf(in Instruction insn) => Push(b.Resize(FullRflags(), StackOpType(in insn)));

    private void Popf(in Instruction insn)
    {
        // SDM Vol. 2B POPF: TF, DF, NT, AC, ID and the arithmetic flags always; IF only when
        // CPL <= IOPL; IOPL only at CPL 0. VM, VIF, VIP and RF are never loaded (no virtual-8086).
        var t = StackOpType(in insn);
        var v = b.ZExt(Pop(t), IrType.I64);
        var old = b.LdState(CpuStateOffsets.Rflags, IrType.I64);
        ulong always = (ulong)(RFlags.TF | RFlags.DF | RFlags.NT | RFlags.AC | RFlags.ID);
        Operand writable;
        if (Mode.Cpl == 0)
        {
            writable = I64(always | (ulong)(RFlags.IF | RFlags.IOPL));
        }
        else
        {
            var iopl = b.And(b.Shr(old, I64(12)), I64(3));
            var ifAllowed = b.SetCond(IrCond.GeU, iopl, I64((ulong)Mode.Cpl));
            writable = b.Select(ifAllowed, I64(always | (ulong)RFlags.IF), I64(always));
        }

        if (t == IrType.I16)
        {
            writable = b.And(writable, I64(0xffff));
        }

        var keep = b.And(old, b.Not(writable));
        b.StState(CpuStateOffsets.Rflags, b.Or(keep, b.And(v, writable)));
        SetFlagsMaterialized(v);
        EndWithExit(); // TF, AC and IF change how and when following code runs
    }
}

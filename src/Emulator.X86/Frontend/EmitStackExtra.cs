using Emulator.Ir;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Stack extras: ENTER, PUSHA/PUSHAD, POPA/POPAD (SDM Vol. 2). Each computes its stack
/// addresses from the stack pointer it started with and writes RSP/RBP (or the popped
/// registers) only after every memory access, so a fault leaves the registers unchanged.
/// Registered from RegisterAtomic.
/// </summary>
public sealed partial class Translator
{
    private static void RegisterStackExtra(Emitter?[] t)
    {
        t[(int)Mnemonic.Enter] = static (tr, in i) => tr.Enter(in i);
        t[(int)Mnemonic.Pusha] = static (tr, in i) => tr.Pusha(IrType.I16);
        t[(int)Mnemonic.Pushad] = static (tr, in i) => tr.Pusha(IrType.I32);
        t[(int)Mnemonic.Popa] = static (tr, in i) => tr.Popa(IrType.I16);
        t[(int)Mnemonic.Popad] = static (tr, in i) => tr.Popa(IrType.I32);
    }

    /// <summary>The stack pointer (SP, ESP or RSP by the stack address size) as an I64.</summary>
    private Operand StackPointer() => WrapStack(Gpr64((int)Gpr.Rsp));

    /// <summary>Wraps a stack offset to the stack address size.</summary>
    private Operand WrapStack(Operand offset) => WrapTo(offset, StackAddressSize);

    /// <summary>Stack-segment linear address of sp - <paramref name="down"/>, wrapped to the stack address size.</summary>
    private Operand StackSlot(Operand sp, ulong down) => Linear(Register.SS, WrapStack(b.Sub(sp, I64(down))));

    /// <summary>
    /// ENTER imm16, imm8 (SDM Vol. 2A ENTER): push rBP; at nesting level L > 0 copy L-1 frame
    /// pointers from the enclosing frame ([rBP - k*size]) and push the new frame pointer; then
    /// rBP = frame pointer (by the operand size) and rSP = frame pointer - L*size - imm16 (by
    /// the stack address size). The copies address rBP by the stack address size.
    /// </summary>
    private void Enter(in Instruction insn)
    {
        var t = insn.Code switch
        {
            Code.Enterw_imm16_imm8 => IrType.I16,
            Code.Enterd_imm16_imm8 => IrType.I32,
            _ => IrType.I64,
        };
        ulong size = (ulong)t.Bytes();
        ulong alloc = insn.Immediate16;
        int level = insn.Immediate8_2nd & 31;

        var sp = StackPointer();
        var rbp = Gpr64((int)Gpr.Rbp);
        var frame = WrapStack(b.Sub(sp, I64(size)));
        StoreMem(Linear(Register.SS, frame), b.Trunc(rbp, t));
        if (level > 0)
        {
            for (int k = 1; k < level; k++)
            {
                var outer = LoadMem(StackSlot(rbp, size * (ulong)k), t);
                StoreMem(StackSlot(frame, size * (ulong)k), outer);
            }

            StoreMem(StackSlot(frame, size * (ulong)level), b.Trunc(frame, t));
        }

        WriteReg(t switch { IrType.I16 => Register.BP, IrType.I32 => Register.EBP, _ => Register.RBP }, b.Trunc(frame, t));
        SetStackPointer(WrapStack(b.Sub(frame, I64((size * (ulong)level) + alloc))), StackAddressSize);
    }

    /// <summary>PUSHA/PUSHAD: pushes AX CX DX BX, the original SP, BP SI DI (legacy modes only; #UD in 64-bit mode by decoding).</summary>
    private void Pusha(IrType t)
    {
        var sp = StackPointer();
        ulong size = (ulong)t.Bytes();
        for (int r = 0; r < 8; r++)
        {
            // Register r goes to sp - (r + 1) * size; r = 4 is the stack pointer before the instruction.
            var v = b.Trunc(r == (int)Gpr.Rsp ? sp : Gpr64(r), t);
            StoreMem(StackSlot(sp, size * (ulong)(r + 1)), v);
        }

        SetStackPointer(WrapStack(b.Sub(sp, I64(size * 8))), StackAddressSize);
    }

    /// <summary>POPA/POPAD: pops DI SI BP, skips the saved SP, then BX DX CX AX.</summary>
    private void Popa(IrType t)
    {
        var sp = StackPointer();
        ulong size = (ulong)t.Bytes();
        Span<Operand> values = stackalloc Operand[8];
        for (int r = 7; r >= 0; r--)
        {
            if (r != (int)Gpr.Rsp)
            {
                // DI is at sp, AX at sp + 7 * size.
                values[r] = LoadMem(Linear(Register.SS, WrapStack(b.Add(sp, I64(size * (ulong)(7 - r))))), t);
            }
        }

        var first = t == IrType.I16 ? Register.AX : Register.EAX;
        for (int r = 0; r < 8; r++)
        {
            if (r != (int)Gpr.Rsp)
            {
                WriteReg(first + r, values[r]);
            }
        }

        SetStackPointer(WrapStack(b.Add(sp, I64(size * 8))), StackAddressSize);
    }
}

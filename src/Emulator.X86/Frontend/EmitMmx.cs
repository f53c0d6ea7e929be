using Emulator.Ir;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// MMX-only instructions (EMMS, MOVQ2DQ, MOVDQ2Q, MOVNTQ, PSHUFW, MASKMOVQ) and the MMX state
/// rules every instruction with an MM operand follows. MMn is the 64-bit mantissa of x87
/// physical register Rn. The integer operations with MM operands share their emitters with
/// SSE2 (EmitSseInt.cs), and MOVD/MOVQ theirs (EmitSse.cs).
/// Not done yet: #UD when CR0.EM = 1, #NM when CR0.TS = 1, and a pending x87 exception (#MF).
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterMmx(Emitter?[] t)
    {
        t[(int)Mnemonic.Emms] = static (tr, in i) => tr.B.StState(CpuStateOffsets.Ftw, I16(0xffff));
        t[(int)Mnemonic.Movq2dq] = static (tr, in i) => tr.Movq2dq(in i);
        t[(int)Mnemonic.Movdq2q] = static (tr, in i) => tr.Movdq2q(in i);
        t[(int)Mnemonic.Movntq] = static (tr, in i) => tr.MovdMovq(in i, 8);
        t[(int)Mnemonic.Pshufw] = static (tr, in i) => tr.Shuffle(in i, 2, [Sel(i, 0), Sel(i, 1), Sel(i, 2), Sel(i, 3)]);
        t[(int)Mnemonic.Maskmovq] = static (tr, in i) => tr.MaskMove(in i);
    }

    /// <summary>True when the instruction has an MM register operand, which makes it an MMX instruction.</summary>
    private static bool UsesMmx(in Instruction insn)
    {
        for (int n = 0; n < insn.OpCount; n++)
        {
            if (insn.GetOpKind(n) == OpKind.Register && insn.GetOpRegister(n).IsMM())
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Ends an instruction that may have MM operands. An MMX instruction (other than EMMS) sets
    /// the x87 TOP to 0 and every tag to valid, and writing MMn sets the exponent word of Rn to
    /// all ones (SDM Vol. 1 9.5.1, Table 9-2). Emitted after the instruction's memory accesses,
    /// so a faulting access leaves the x87 state untouched.
    /// </summary>
    private void MmxInstructionDone(in Instruction insn, Register written)
    {
        if (!UsesMmx(in insn))
        {
            return;
        }

        var fsw = b.LdState(CpuStateOffsets.Fsw, IrType.I16);
        b.StState(CpuStateOffsets.Fsw, b.And(fsw, I16(0xc7ff)));
        b.StState(CpuStateOffsets.Ftw, I16(0));
        if (written.IsMM())
        {
            b.StState(MmOffset(written) + 8, I16(0xffff));
        }
    }

    /// <summary>MOVQ2DQ xmm, mm: the MM register into the low quadword, the high one cleared.</summary>
    private void Movq2dq(in Instruction insn)
    {
        int dst = XmmOffset(insn.Op0Register);
        b.StState(dst, b.LdState(MmOffset(insn.Op1Register), IrType.I64));
        b.StState(dst + 8, I64(0));
        MmxInstructionDone(in insn, Register.None);
    }

    /// <summary>MOVDQ2Q mm, xmm: the low quadword of the XMM register.</summary>
    private void Movdq2q(in Instruction insn)
    {
        b.StState(MmOffset(insn.Op0Register), b.LdState(XmmOffset(insn.Op1Register), IrType.I64));
        MmxInstructionDone(in insn, insn.Op0Register);
    }
}

using Emulator.Ir;
using Emulator.X86.Helpers;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// SSE/SSE2 data movement (legacy encodings): MOVDQA MOVDQU MOVAPS MOVUPS MOVAPD MOVUPD LDDQU,
/// MOVD MOVQ (XMM, MM, GPR and memory forms), MOVNTDQ MOVNTPS MOVNTPD MOVNTI, MOVHPS MOVLPS
/// MOVHPD MOVLPD MOVHLPS MOVLHPS, MOVMSKPS MOVMSKPD. The integer operations are in
/// EmitSseInt.cs; MMX-only instructions in EmitMmx.cs. VEX forms decode to other mnemonics and
/// stay unregistered (#UD).
/// Not done yet: #UD when CR0.EM = 1 and #NM when CR0.TS = 1 (SDM Vol. 3A 2.5, 13.1).
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterSse(Emitter?[] t)
    {
        t[(int)Mnemonic.Movdqa] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Movaps] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Movapd] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Movntdq] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Movntps] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Movntpd] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Movdqu] = static (tr, in i) => tr.MoveXmm128(in i, aligned: false);
        t[(int)Mnemonic.Movups] = static (tr, in i) => tr.MoveXmm128(in i, aligned: false);
        t[(int)Mnemonic.Movupd] = static (tr, in i) => tr.MoveXmm128(in i, aligned: false);
        t[(int)Mnemonic.Lddqu] = static (tr, in i) => tr.MoveXmm128(in i, aligned: false);
        t[(int)Mnemonic.Movd] = static (tr, in i) => tr.MovdMovq(in i, 4);
        t[(int)Mnemonic.Movq] = static (tr, in i) => tr.MovdMovq(in i, 8);
        t[(int)Mnemonic.Movnti] = static (tr, in i) => tr.WriteOp(in i, 0, tr.ReadOp(in i, 1));
        t[(int)Mnemonic.Movhps] = static (tr, in i) => tr.MoveHalf(in i, 8);
        t[(int)Mnemonic.Movhpd] = static (tr, in i) => tr.MoveHalf(in i, 8);
        t[(int)Mnemonic.Movlps] = static (tr, in i) => tr.MoveHalf(in i, 0);
        t[(int)Mnemonic.Movlpd] = static (tr, in i) => tr.MoveHalf(in i, 0);
        t[(int)Mnemonic.Movhlps] = static (tr, in i) => tr.MoveQword(XmmOffset(i.Op0Register), XmmOffset(i.Op1Register) + 8);
        t[(int)Mnemonic.Movlhps] = static (tr, in i) => tr.MoveQword(XmmOffset(i.Op0Register) + 8, XmmOffset(i.Op1Register));
        t[(int)Mnemonic.Movmskps] = static (tr, in i) => tr.MoveSignMask(in i, 4);
        t[(int)Mnemonic.Movmskpd] = static (tr, in i) => tr.MoveSignMask(in i, 8);
        RegisterSseInteger(t);
        RegisterSseExtended(t);
    }

    /// <summary>State offset of an XMM or MM register.</summary>
    private static int VecOffset(Register r) => r.IsMM() ? MmOffset(r) : XmmOffset(r);

    /// <summary>Bytes of operand <paramref name="n"/> as a vector source: its memory size, or a whole register.</summary>
    private static int VectorBytes(in Instruction insn, int n) =>
        insn.GetOpKind(n) == OpKind.Memory ? insn.MemorySize.GetSize() : insn.GetOpRegister(n).IsMM() ? 8 : 16;

    /// <summary>A 16-byte move between XMM registers and memory; <paramref name="aligned"/> forms #GP(0) on a misaligned address.</summary>
    private void MoveXmm128(in Instruction insn, bool aligned)
    {
        if (insn.Op0Kind == OpKind.Memory)
        {
            StoreVector(EffectiveAddress(in insn), XmmOffset(insn.Op1Register), 16, aligned);
            return;
        }

        int dst = XmmOffset(insn.Op0Register);
        if (insn.Op1Kind == OpKind.Register)
        {
            CopyXmm(dst, XmmOffset(insn.Op1Register));
            return;
        }

        var addr = EffectiveAddress(in insn);
        if (aligned)
        {
            AlignmentCheck(addr);
        }

        LoadVector(addr, dst, 16);
    }

    /// <summary>
    /// MOVD (<paramref name="bytes"/> 4) and MOVQ (8) in all their forms. A write to an XMM
    /// register zero-fills it above the value, a write to an MM register above 32 bits (SDM
    /// Vol. 2B MOVD/MOVQ); MOVQ xmm, xmm copies the low quadword and clears the high one.
    /// </summary>
    private void MovdMovq(in Instruction insn, int bytes)
    {
        var t = T(bytes);
        var r0 = insn.Op0Kind == OpKind.Register ? insn.Op0Register : Register.None;
        var r1 = insn.Op1Kind == OpKind.Register ? insn.Op1Register : Register.None;
        bool mmx = r0.IsMM() || r1.IsMM();

        Operand v = insn.Op1Kind == OpKind.Memory ? LoadMem(EffectiveAddress(in insn), t)
            : r1.IsGPR() ? ReadReg(r1)
            : b.LdState(VecOffset(r1), t);

        if (insn.Op0Kind == OpKind.Memory)
        {
            StoreMem(EffectiveAddress(in insn), v);
        }
        else if (r0.IsGPR())
        {
            WriteReg(r0, v);
        }
        else if (r0.IsMM())
        {
            b.StState(MmOffset(r0), b.ZExt(v, IrType.I64));
        }
        else
        {
            int dst = XmmOffset(r0);
            b.StState(dst, b.ZExt(v, IrType.I64));
            b.StState(dst + 8, I64(0));
        }

        if (mmx)
        {
            MmxInstructionDone(in insn, r0);
        }
    }

    /// <summary>
    /// MOVHPS/MOVHPD (<paramref name="half"/> 8) and MOVLPS/MOVLPD (0): moves one quadword
    /// between memory and that half of an XMM register; the other half is kept.
    /// </summary>
    private void MoveHalf(in Instruction insn, int half)
    {
        var addr = EffectiveAddress(in insn);
        if (insn.Op0Kind == OpKind.Memory)
        {
            StoreMem(addr, b.LdState(XmmOffset(insn.Op1Register) + half, IrType.I64));
        }
        else
        {
            b.StState(XmmOffset(insn.Op0Register) + half, LoadMem(addr, IrType.I64));
        }
    }

    /// <summary>Copies one quadword within state (MOVHLPS, MOVLHPS).</summary>
    private void MoveQword(int to, int from) => b.StState(to, b.LdState(from, IrType.I64));

    /// <summary>
    /// MOVMSKPS (<paramref name="lane"/> 4) and MOVMSKPD (8): the sign bit of each lane into the
    /// low bits of a general register, the rest zero.
    /// </summary>
    private void MoveSignMask(in Instruction insn, int lane)
    {
        int src = XmmOffset(insn.Op1Register);
        var mask = default(Operand);
        int bit = 0;
        for (int q = 0; q < 2; q++)
        {
            var half = b.LdState(src + (8 * q), IrType.I64);
            for (int top = (lane * 8) - 1; top < 64; top += lane * 8)
            {
                var sign = b.And(b.Shr(half, I64((ulong)top)), I64(1));
                mask = bit == 0 ? sign : b.Or(mask, b.Shl(sign, I64((ulong)bit)));
                bit++;
            }
        }

        var dst = insn.Op0Register;
        WriteReg(dst, b.Trunc(mask, T(dst.GetSize())));
    }
}

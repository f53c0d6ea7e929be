using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// SSE2 packed integer instructions, which share their mnemonics with the MMX forms: an MM
/// destination works on 8 bytes and makes the instruction an MMX one (EmitMmx.cs). Logic
/// (PAND PANDN POR PXOR and the PS/PD forms), PADDQ/PSUBQ, PCMPEQB, PMOVMSKB, the unpacks and
/// the dword/word/qword shuffles are IR on state slots; the rest call helpers (SsePackedArith,
/// SseShiftPack). A 16-byte memory source must be 16-byte aligned (#GP(0)), an MMX one need not be.
/// </summary>
public sealed partial class Translator
{
    /// <summary>A lane of the source operand in a <see cref="PermuteLanes"/> selector (below it: a lane of the destination).</summary>
    private const int SrcLane = 0x100;

    private enum QwordOp
    {
        And,
        AndNot,
        Or,
        Xor,
        Add,
        Sub,
    }

    private static void RegisterSseInteger(Emitter?[] t)
    {
        void Qword(QwordOp op, params Mnemonic[] ms)
        {
            foreach (var m in ms)
            {
                t[(int)m] = (tr, in i) => tr.PackedQword(in i, op);
            }
        }

        Qword(QwordOp.And, Mnemonic.Pand, Mnemonic.Andps, Mnemonic.Andpd);
        Qword(QwordOp.AndNot, Mnemonic.Pandn, Mnemonic.Andnps, Mnemonic.Andnpd);
        Qword(QwordOp.Or, Mnemonic.Por, Mnemonic.Orps, Mnemonic.Orpd);
        Qword(QwordOp.Xor, Mnemonic.Pxor, Mnemonic.Xorps, Mnemonic.Xorpd);
        Qword(QwordOp.Add, Mnemonic.Paddq);
        Qword(QwordOp.Sub, Mnemonic.Psubq);

        void Helper(Mnemonic m, HelperInfo h) => t[(int)m] = (tr, in i) => tr.PackedHelper(in i, h);
        Helper(Mnemonic.Paddb, SsePackedArith.Paddb);
        Helper(Mnemonic.Paddw, SsePackedArith.Paddw);
        Helper(Mnemonic.Paddd, SsePackedArith.Paddd);
        Helper(Mnemonic.Psubb, SsePackedArith.Psubb);
        Helper(Mnemonic.Psubw, SsePackedArith.Psubw);
        Helper(Mnemonic.Psubd, SsePackedArith.Psubd);
        Helper(Mnemonic.Paddsb, SsePackedArith.Paddsb);
        Helper(Mnemonic.Paddsw, SsePackedArith.Paddsw);
        Helper(Mnemonic.Paddusb, SsePackedArith.Paddusb);
        Helper(Mnemonic.Paddusw, SsePackedArith.Paddusw);
        Helper(Mnemonic.Psubsb, SsePackedArith.Psubsb);
        Helper(Mnemonic.Psubsw, SsePackedArith.Psubsw);
        Helper(Mnemonic.Psubusb, SsePackedArith.Psubusb);
        Helper(Mnemonic.Psubusw, SsePackedArith.Psubusw);
        Helper(Mnemonic.Pmullw, SsePackedArith.Pmullw);
        Helper(Mnemonic.Pmulhw, SsePackedArith.Pmulhw);
        Helper(Mnemonic.Pmulhuw, SsePackedArith.Pmulhuw);
        Helper(Mnemonic.Pmuludq, SsePackedArith.Pmuludq);
        Helper(Mnemonic.Pmaddwd, SsePackedArith.Pmaddwd);
        Helper(Mnemonic.Pavgb, SsePackedArith.Pavgb);
        Helper(Mnemonic.Pavgw, SsePackedArith.Pavgw);
        Helper(Mnemonic.Pminub, SsePackedArith.Pminub);
        Helper(Mnemonic.Pmaxub, SsePackedArith.Pmaxub);
        Helper(Mnemonic.Pminsw, SsePackedArith.Pminsw);
        Helper(Mnemonic.Pmaxsw, SsePackedArith.Pmaxsw);
        Helper(Mnemonic.Psadbw, SsePackedArith.Psadbw);
        t[(int)Mnemonic.Pcmpeqb] = static (tr, in i) => tr.Pcmpeqb(in i);
        Helper(Mnemonic.Pcmpeqw, SsePackedArith.Pcmpeqw);
        Helper(Mnemonic.Pcmpeqd, SsePackedArith.Pcmpeqd);
        Helper(Mnemonic.Pcmpgtb, SsePackedArith.Pcmpgtb);
        Helper(Mnemonic.Pcmpgtw, SsePackedArith.Pcmpgtw);
        Helper(Mnemonic.Pcmpgtd, SsePackedArith.Pcmpgtd);
        Helper(Mnemonic.Packsswb, SseShiftPack.Packsswb);
        Helper(Mnemonic.Packssdw, SseShiftPack.Packssdw);
        Helper(Mnemonic.Packuswb, SseShiftPack.Packuswb);

        void Unpack(Mnemonic m, int lane, bool high) => t[(int)m] = (tr, in i) => tr.Unpack(in i, lane, high);
        Unpack(Mnemonic.Punpcklbw, 1, false);
        Unpack(Mnemonic.Punpcklwd, 2, false);
        Unpack(Mnemonic.Punpckldq, 4, false);
        Unpack(Mnemonic.Punpcklqdq, 8, false);
        Unpack(Mnemonic.Unpcklps, 4, false);
        Unpack(Mnemonic.Unpcklpd, 8, false);
        Unpack(Mnemonic.Punpckhbw, 1, true);
        Unpack(Mnemonic.Punpckhwd, 2, true);
        Unpack(Mnemonic.Punpckhdq, 4, true);
        Unpack(Mnemonic.Punpckhqdq, 8, true);
        Unpack(Mnemonic.Unpckhps, 4, true);
        Unpack(Mnemonic.Unpckhpd, 8, true);

        void Shift(Mnemonic m, HelperInfo h) => t[(int)m] = (tr, in i) => tr.PackedShift(in i, h);
        Shift(Mnemonic.Psllw, SseShiftPack.Psllw);
        Shift(Mnemonic.Pslld, SseShiftPack.Pslld);
        Shift(Mnemonic.Psllq, SseShiftPack.Psllq);
        Shift(Mnemonic.Psrlw, SseShiftPack.Psrlw);
        Shift(Mnemonic.Psrld, SseShiftPack.Psrld);
        Shift(Mnemonic.Psrlq, SseShiftPack.Psrlq);
        Shift(Mnemonic.Psraw, SseShiftPack.Psraw);
        Shift(Mnemonic.Psrad, SseShiftPack.Psrad);
        t[(int)Mnemonic.Pslldq] = static (tr, in i) => tr.VectorCall(SseShiftPack.Pslldq, XmmOffset(i.Op0Register), 0, i.Immediate8, 16);
        t[(int)Mnemonic.Psrldq] = static (tr, in i) => tr.VectorCall(SseShiftPack.Psrldq, XmmOffset(i.Op0Register), 0, i.Immediate8, 16);

        t[(int)Mnemonic.Pshufd] = static (tr, in i) => tr.Shuffle(in i, 4, [Sel(i, 0), Sel(i, 1), Sel(i, 2), Sel(i, 3)]);
        t[(int)Mnemonic.Pshuflw] = static (tr, in i) => tr.Shuffle(in i, 2, [Sel(i, 0), Sel(i, 1), Sel(i, 2), Sel(i, 3), SrcLane | 4, SrcLane | 5, SrcLane | 6, SrcLane | 7]);
        t[(int)Mnemonic.Pshufhw] = static (tr, in i) => tr.Shuffle(in i, 2, [SrcLane | 0, SrcLane | 1, SrcLane | 2, SrcLane | 3, Sel(i, 0) + 4, Sel(i, 1) + 4, Sel(i, 2) + 4, Sel(i, 3) + 4]);
        t[(int)Mnemonic.Shufps] = static (tr, in i) => tr.Shuffle(in i, 4, [Sel(i, 0) & 3, Sel(i, 1) & 3, Sel(i, 2), Sel(i, 3)]);
        t[(int)Mnemonic.Shufpd] = static (tr, in i) => tr.Shuffle(in i, 8, [i.Immediate8 & 1, SrcLane | ((i.Immediate8 >> 1) & 1)]);

        t[(int)Mnemonic.Pinsrw] = static (tr, in i) => tr.Pinsrw(in i);
        t[(int)Mnemonic.Pextrw] = static (tr, in i) => tr.Pextrw(in i);
        t[(int)Mnemonic.Pmovmskb] = static (tr, in i) => tr.Pmovmskb(in i);
        t[(int)Mnemonic.Maskmovdqu] = static (tr, in i) => tr.MaskMove(in i);
    }

    /// <summary>Source word or dword <paramref name="k"/> of a shuffle: the 2-bit field k of imm8.</summary>
    private static int Sel(in Instruction insn, int k) => SrcLane | ((insn.Immediate8 >> (2 * k)) & 3);

    /// <summary>Width in bytes of the vector register <paramref name="r"/>: 8 for MM, 16 for XMM.</summary>
    private static int VectorLength(Register r) => r.IsMM() ? 8 : 16;

    /// <summary>dst = helper(dst, src), on the low 8 (MM) or 16 (XMM) bytes.</summary>
    private void PackedHelper(in Instruction insn, HelperInfo h, ulong imm = 0)
    {
        var dst = insn.Op0Register;
        int src = VectorSource(in insn, 1, VectorBytes(in insn, 1), aligned: true);
        VectorCall(h, VecOffset(dst), src, imm, (ulong)VectorLength(dst));
        MmxInstructionDone(in insn, dst);
    }

    /// <summary>Bitwise logic and PADDQ/PSUBQ, one quadword at a time in IR. x op x with op in {xor, andn, sub} is the zero idiom.</summary>
    private void PackedQword(in Instruction insn, QwordOp op)
    {
        var dst = insn.Op0Register;
        int d = VecOffset(dst);
        int s = VectorSource(in insn, 1, VectorBytes(in insn, 1), aligned: true);
        bool self = insn.Op1Kind == OpKind.Register && insn.Op1Register == dst;
        for (int q = 0; q < VectorLength(dst); q += 8)
        {
            Operand r;
            if (self && op is QwordOp.Xor or QwordOp.AndNot or QwordOp.Sub)
            {
                r = I64(0);
            }
            else
            {
                var x = b.LdState(d + q, IrType.I64);
                var y = b.LdState(s + q, IrType.I64);
                r = op switch
                {
                    QwordOp.And => b.And(x, y),
                    QwordOp.AndNot => b.And(b.Not(x), y),
                    QwordOp.Or => b.Or(x, y),
                    QwordOp.Xor => b.Xor(x, y),
                    QwordOp.Add => b.Add(x, y),
                    _ => b.Sub(x, y),
                };
            }

            b.StState(d + q, r);
        }

        MmxInstructionDone(in insn, dst);
    }

    /// <summary>PSLL/PSRL/PSRA by imm8 or by the low quadword of the source (a register or memory).</summary>
    private void PackedShift(in Instruction insn, HelperInfo h)
    {
        var dst = insn.Op0Register;
        var count = insn.Op1Kind == OpKind.Immediate8
            ? I64(insn.Immediate8)
            : b.LdState(VectorSource(in insn, 1, VectorBytes(in insn, 1), aligned: true), IrType.I64);
        b.Call(h, I64((ulong)VecOffset(dst)), count, I64(0), I64((ulong)VectorLength(dst)));
        MmxInstructionDone(in insn, dst);
    }

    /// <summary>A shuffle with an imm8 (PSHUFD PSHUFLW PSHUFHW PSHUFW SHUFPS SHUFPD): dst lanes chosen by <paramref name="sel"/>.</summary>
    private void Shuffle(in Instruction insn, int lane, int[] sel)
    {
        var dst = insn.Op0Register;
        int src = VectorSource(in insn, 1, VectorBytes(in insn, 1), aligned: true);
        PermuteLanes(VecOffset(dst), src, lane, sel);
        MmxInstructionDone(in insn, dst);
    }

    /// <summary>
    /// Writes destination lane i (of <paramref name="lane"/> bytes) from <paramref name="sel"/>[i]: a
    /// lane of dst, or with <see cref="SrcLane"/> set a lane of src. Every lane is read before any
    /// is written, so src may be dst; lanes that stay where they are are not rewritten.
    /// </summary>
    private void PermuteLanes(int dst, int src, int lane, int[] sel)
    {
        var t = T(lane);
        var v = new Operand[sel.Length];
        for (int i = 0; i < sel.Length; i++)
        {
            int from = (sel[i] & SrcLane) != 0 ? src + ((sel[i] & ~SrcLane) * lane) : dst + (sel[i] * lane);
            v[i] = from == dst + (i * lane) ? default : b.LdState(from, t);
        }

        for (int i = 0; i < sel.Length; i++)
        {
            if (v[i].IsValid)
            {
                b.StState(dst + (i * lane), v[i]);
            }
        }
    }

    /// <summary>
    /// PUNPCKL/H BW WD DQ QDQ and UNPCKL/H PS PD: the lanes of one half (low or high) of dst and
    /// src interleaved, dst's first, as IR lane moves (glibc's byte broadcasts run them on every
    /// call of its string functions).
    /// </summary>
    private void Unpack(in Instruction insn, int lane, bool high)
    {
        var dst = insn.Op0Register;
        int src = VectorSource(in insn, 1, VectorBytes(in insn, 1), aligned: true);
        int lanes = VectorLength(dst) / lane;
        int from = high ? lanes / 2 : 0;
        var sel = new int[lanes];
        for (int i = 0; i < lanes; i++)
        {
            sel[i] = (from + (i / 2)) | (i % 2 == 1 ? SrcLane : 0);
        }

        PermuteLanes(VecOffset(dst), src, lane, sel);
        MmxInstructionDone(in insn, dst);
    }

    /// <summary>PINSRW xmm/mm, r32/m16, imm8: replaces one word (imm8 mod 8, or mod 4 for MM).</summary>
    private void Pinsrw(in Instruction insn)
    {
        var dst = insn.Op0Register;
        var word = ReadOp(in insn, 1, IrType.I16);
        int index = insn.Immediate8 & ((VectorLength(dst) / 2) - 1);
        b.StState(VecOffset(dst) + (2 * index), word);
        MmxInstructionDone(in insn, dst);
    }

    /// <summary>PEXTRW r32/r64, xmm/mm, imm8 (zero-extended), and the SSE4.1 form PEXTRW m16, xmm, imm8.</summary>
    private void Pextrw(in Instruction insn)
    {
        var src = insn.Op1Register;
        int index = insn.Immediate8 & ((VectorLength(src) / 2) - 1);
        var word = b.LdState(VecOffset(src) + (2 * index), IrType.I16);
        if (insn.Op0Kind == OpKind.Memory)
        {
            StoreMem(EffectiveAddress(in insn), word);
        }
        else
        {
            WriteReg(insn.Op0Register, b.ZExt(word, TypeOf(in insn, 0)));
        }

        MmxInstructionDone(in insn, Register.None);
    }

    private const ulong ByteLow7 = 0x7f7f_7f7f_7f7f_7f7f, ByteTop = 0x8080_8080_8080_8080;

    /// <summary>
    /// PCMPEQB, one quadword at a time in IR (glibc's string functions run it in their inner loops,
    /// so tier 1 does it inline instead of calling out). With x = a XOR b, a byte of x is zero iff
    /// ((x AND 7F..) + 7F..) OR x has its top bit clear; that top bit, shifted to bit 0 and times
    /// FF, is the byte of the result (no carry crosses a byte in either step). x PCMPEQB x is all ones.
    /// </summary>
    private void Pcmpeqb(in Instruction insn)
    {
        var dst = insn.Op0Register;
        int d = VecOffset(dst);
        int s = VectorSource(in insn, 1, VectorBytes(in insn, 1), aligned: true);
        bool self = insn.Op1Kind == OpKind.Register && insn.Op1Register == dst;
        for (int q = 0; q < VectorLength(dst); q += 8)
        {
            Operand r = I64(ulong.MaxValue);
            if (!self)
            {
                var x = b.Xor(b.LdState(d + q, IrType.I64), b.LdState(s + q, IrType.I64));
                var nonzero = b.Or(b.Add(b.And(x, I64(ByteLow7)), I64(ByteLow7)), x);
                var zero = b.And(b.Not(nonzero), I64(ByteTop));
                r = b.Mul(b.Shr(zero, I64(7)), I64(0xff));
            }

            b.StState(d + q, r);
        }

        MmxInstructionDone(in insn, dst);
    }

    /// <summary>
    /// PMOVMSKB r32/r64, xmm/mm: the top bit of each byte, zero-extended, in IR. Per quadword the
    /// top bits (AND 80..) times 0x0002040810204081 land, without carries, in bits 56-63 in byte order.
    /// </summary>
    private void Pmovmskb(in Instruction insn)
    {
        var src = insn.Op1Register;
        int s = VecOffset(src);
        Operand Bits(int q) => b.Shr(b.Mul(b.And(b.LdState(s + q, IrType.I64), I64(ByteTop)), I64(0x0002_0408_1020_4081)), I64(56));
        var mask = Bits(0);
        if (VectorLength(src) == 16)
        {
            mask = b.Or(mask, b.Shl(Bits(8), I64(8)));
        }

        WriteReg(insn.Op0Register, b.Trunc(mask, TypeOf(in insn, 0)));
        MmxInstructionDone(in insn, Register.None);
    }

    /// <summary>
    /// MASKMOVDQU/MASKMOVQ data, mask: stores the bytes of data selected by the mask's top bits
    /// at DS:rDI (segment overridable), rDI taken at the address size.
    /// </summary>
    private void MaskMove(in Instruction insn)
    {
        // Iced gives the implicit destination as operand 0, then the data and mask registers.
        var data = insn.Op1Register;
        var mask = insn.Op2Register;
        var di = Gpr64((int)Gpr.Rdi);
        di = insn.Op0Kind switch
        {
            OpKind.MemorySegDI => b.And(di, I64(0xffff)),
            OpKind.MemorySegEDI => b.And(di, I64(0xffff_ffff)),
            _ => di,
        };
        var addr = Linear(insn.MemorySegment, di);
        uint lengthAndWrap = (uint)VectorLength(data) | (Mode.Is64 ? 0u : 0x100u);
        b.Call(SseShiftPack.MaskMov, I64((ulong)VecOffset(data)), I64((ulong)VecOffset(mask)), addr, I64(lengthAndWrap));
        stored = true;
        MmxInstructionDone(in insn, Register.None);
    }
}

using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// The x86-64-v2 vector instructions: SSE3 (ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD, MOVDDUP,
/// MOVSHDUP, MOVSLDUP; LDDQU is in EmitSse.cs, FISTTP in EmitX87.cs), SSSE3 (MMX and XMM
/// forms), SSE4.1 and SSE4.2 (PCMPGTQ, the string compares PCMPxSTRx, CRC32). Inserts,
/// extracts and duplications are IR on state slots; the rest call helpers (SseExtendedInt,
/// SseExtendedFloat, SseStringCompare). A 16-byte memory source must be 16-byte aligned
/// (#GP(0)) except for PCMPxSTRx (SDM Vol. 2B PCMPESTRI: no alignment is required).
/// Whether the CPU model offers them is checked before any emitter runs (Translator.Translate).
/// </summary>
public sealed partial class Translator
{
    private static void RegisterSseExtended(Emitter?[] t)
    {
        // SSE3
        t[(int)Mnemonic.Addsubps] = static (tr, in i) => tr.SseFpArith(in i, SseExtendedFloat.AddSub, SseFpShape.Ps);
        t[(int)Mnemonic.Addsubpd] = static (tr, in i) => tr.SseFpArith(in i, SseExtendedFloat.AddSub, SseFpShape.Pd);
        t[(int)Mnemonic.Haddps] = static (tr, in i) => tr.SseFpArith(in i, SseExtendedFloat.HAdd, SseFpShape.Ps);
        t[(int)Mnemonic.Haddpd] = static (tr, in i) => tr.SseFpArith(in i, SseExtendedFloat.HAdd, SseFpShape.Pd);
        t[(int)Mnemonic.Hsubps] = static (tr, in i) => tr.SseFpArith(in i, SseExtendedFloat.HSub, SseFpShape.Ps);
        t[(int)Mnemonic.Hsubpd] = static (tr, in i) => tr.SseFpArith(in i, SseExtendedFloat.HSub, SseFpShape.Pd);
        t[(int)Mnemonic.Movddup] = static (tr, in i) => tr.Shuffle(in i, 8, [SrcLane | 0, SrcLane | 0]);
        t[(int)Mnemonic.Movsldup] = static (tr, in i) => tr.Shuffle(in i, 4, [SrcLane | 0, SrcLane | 0, SrcLane | 2, SrcLane | 2]);
        t[(int)Mnemonic.Movshdup] = static (tr, in i) => tr.Shuffle(in i, 4, [SrcLane | 1, SrcLane | 1, SrcLane | 3, SrcLane | 3]);

        // SSSE3: dst = op(dst, src) on MM or XMM registers.
        void Helper(Mnemonic m, HelperInfo h) => t[(int)m] = (tr, in i) => tr.PackedHelper(in i, h);
        Helper(Mnemonic.Pshufb, SseExtendedInt.Pshufb);
        Helper(Mnemonic.Pabsb, SseExtendedInt.Pabsb);
        Helper(Mnemonic.Pabsw, SseExtendedInt.Pabsw);
        Helper(Mnemonic.Pabsd, SseExtendedInt.Pabsd);
        Helper(Mnemonic.Psignb, SseExtendedInt.Psignb);
        Helper(Mnemonic.Psignw, SseExtendedInt.Psignw);
        Helper(Mnemonic.Psignd, SseExtendedInt.Psignd);
        Helper(Mnemonic.Phaddw, SseExtendedInt.Phaddw);
        Helper(Mnemonic.Phaddd, SseExtendedInt.Phaddd);
        Helper(Mnemonic.Phaddsw, SseExtendedInt.Phaddsw);
        Helper(Mnemonic.Phsubw, SseExtendedInt.Phsubw);
        Helper(Mnemonic.Phsubd, SseExtendedInt.Phsubd);
        Helper(Mnemonic.Phsubsw, SseExtendedInt.Phsubsw);
        Helper(Mnemonic.Pmaddubsw, SseExtendedInt.Pmaddubsw);
        Helper(Mnemonic.Pmulhrsw, SseExtendedInt.Pmulhrsw);
        t[(int)Mnemonic.Palignr] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Palignr, i.Immediate8);

        // SSE4.1 and SSE4.2 integer, XMM only.
        Helper(Mnemonic.Pmulld, SseExtendedInt.Pmulld);
        Helper(Mnemonic.Pmuldq, SseExtendedInt.Pmuldq);
        Helper(Mnemonic.Pminsb, SseExtendedInt.Pminsb);
        Helper(Mnemonic.Pminsd, SseExtendedInt.Pminsd);
        Helper(Mnemonic.Pminuw, SseExtendedInt.Pminuw);
        Helper(Mnemonic.Pminud, SseExtendedInt.Pminud);
        Helper(Mnemonic.Pmaxsb, SseExtendedInt.Pmaxsb);
        Helper(Mnemonic.Pmaxsd, SseExtendedInt.Pmaxsd);
        Helper(Mnemonic.Pmaxuw, SseExtendedInt.Pmaxuw);
        Helper(Mnemonic.Pmaxud, SseExtendedInt.Pmaxud);
        Helper(Mnemonic.Pcmpeqq, SseExtendedInt.Pcmpeqq);
        Helper(Mnemonic.Pcmpgtq, SseExtendedInt.Pcmpgtq);
        Helper(Mnemonic.Packusdw, SseExtendedInt.Packusdw);
        Helper(Mnemonic.Phminposuw, SseExtendedInt.Phminposuw);
        t[(int)Mnemonic.Mpsadbw] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Mpsadbw, i.Immediate8);
        t[(int)Mnemonic.Pblendw] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Blend, i.Immediate8 | (2u << 16));
        t[(int)Mnemonic.Blendps] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Blend, (i.Immediate8 & 0xfu) | (4u << 16));
        t[(int)Mnemonic.Blendpd] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Blend, (i.Immediate8 & 3u) | (8u << 16));
        t[(int)Mnemonic.Pblendvb] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Blendv, (ulong)XmmOffset(Register.XMM0) | (1u << 16));
        t[(int)Mnemonic.Blendvps] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Blendv, (ulong)XmmOffset(Register.XMM0) | (4u << 16));
        t[(int)Mnemonic.Blendvpd] = static (tr, in i) => tr.PackedHelper(in i, SseExtendedInt.Blendv, (ulong)XmmOffset(Register.XMM0) | (8u << 16));

        void Extend(Mnemonic m, int from, int to, bool signed) => t[(int)m] = (tr, in i) => tr.PackedExtend(in i, from, to, signed);
        Extend(Mnemonic.Pmovsxbw, 1, 2, true);
        Extend(Mnemonic.Pmovsxbd, 1, 4, true);
        Extend(Mnemonic.Pmovsxbq, 1, 8, true);
        Extend(Mnemonic.Pmovsxwd, 2, 4, true);
        Extend(Mnemonic.Pmovsxwq, 2, 8, true);
        Extend(Mnemonic.Pmovsxdq, 4, 8, true);
        Extend(Mnemonic.Pmovzxbw, 1, 2, false);
        Extend(Mnemonic.Pmovzxbd, 1, 4, false);
        Extend(Mnemonic.Pmovzxbq, 1, 8, false);
        Extend(Mnemonic.Pmovzxwd, 2, 4, false);
        Extend(Mnemonic.Pmovzxwq, 2, 8, false);
        Extend(Mnemonic.Pmovzxdq, 4, 8, false);

        t[(int)Mnemonic.Ptest] = static (tr, in i) =>
        {
            int src = tr.VectorSource(in i, 1, 16, aligned: true);
            tr.SetFlagsMaterialized(tr.VectorCall(SseExtendedInt.Ptest, XmmOffset(i.Op0Register), src));
        };
        t[(int)Mnemonic.Movntdqa] = static (tr, in i) => tr.MoveXmm128(in i, aligned: true);
        t[(int)Mnemonic.Pextrb] = static (tr, in i) => tr.ExtractLane(in i, 1);
        t[(int)Mnemonic.Pextrd] = static (tr, in i) => tr.ExtractLane(in i, 4);
        t[(int)Mnemonic.Pextrq] = static (tr, in i) => tr.ExtractLane(in i, 8);
        t[(int)Mnemonic.Extractps] = static (tr, in i) => tr.ExtractLane(in i, 4);
        t[(int)Mnemonic.Pinsrb] = static (tr, in i) => tr.InsertLane(in i, 1);
        t[(int)Mnemonic.Pinsrd] = static (tr, in i) => tr.InsertLane(in i, 4);
        t[(int)Mnemonic.Pinsrq] = static (tr, in i) => tr.InsertLane(in i, 8);
        t[(int)Mnemonic.Insertps] = static (tr, in i) => tr.Insertps(in i);

        // SSE4.1 floating point.
        t[(int)Mnemonic.Dpps] = static (tr, in i) => tr.SseFpImmediate(in i, SseExtendedFloat.DotProduct, SseFpShape.Ps);
        t[(int)Mnemonic.Dppd] = static (tr, in i) => tr.SseFpImmediate(in i, SseExtendedFloat.DotProduct, SseFpShape.Pd);
        t[(int)Mnemonic.Roundps] = static (tr, in i) => tr.SseFpImmediate(in i, SseExtendedFloat.Round, SseFpShape.Ps);
        t[(int)Mnemonic.Roundpd] = static (tr, in i) => tr.SseFpImmediate(in i, SseExtendedFloat.Round, SseFpShape.Pd);
        t[(int)Mnemonic.Roundss] = static (tr, in i) => tr.SseFpImmediate(in i, SseExtendedFloat.Round, SseFpShape.Ss);
        t[(int)Mnemonic.Roundsd] = static (tr, in i) => tr.SseFpImmediate(in i, SseExtendedFloat.Round, SseFpShape.Sd);

        // SSE4.2
        t[(int)Mnemonic.Pcmpestri] = static (tr, in i) => tr.StringCompare(in i, SseStringCompare.Explicit | SseStringCompare.Index);
        t[(int)Mnemonic.Pcmpestrm] = static (tr, in i) => tr.StringCompare(in i, SseStringCompare.Explicit);
        t[(int)Mnemonic.Pcmpestri64] = static (tr, in i) => tr.StringCompare(in i, SseStringCompare.Explicit | SseStringCompare.Index | SseStringCompare.Wide);
        t[(int)Mnemonic.Pcmpestrm64] = static (tr, in i) => tr.StringCompare(in i, SseStringCompare.Explicit | SseStringCompare.Wide);
        t[(int)Mnemonic.Pcmpistri] = static (tr, in i) => tr.StringCompare(in i, SseStringCompare.Index);
        t[(int)Mnemonic.Pcmpistrm] = static (tr, in i) => tr.StringCompare(in i, 0);
        t[(int)Mnemonic.Crc32] = static (tr, in i) => tr.Crc32(in i);
    }

    /// <summary>PMOVSX/PMOVZX xmm, xmm/m(16/8 * from/to): the low elements of the source widened.</summary>
    private void PackedExtend(in Instruction insn, int from, int to, bool signed)
    {
        int src = VectorSource(in insn, 1, VectorBytes(in insn, 1));
        ulong kind = (uint)from | ((uint)to << 4) | (signed ? 0x100u : 0u);
        VectorCall(SseExtendedInt.Pmovx, XmmOffset(insn.Op0Register), src, kind, 16);
    }

    /// <summary>DPPS/DPPD/ROUNDxx xmm, xmm/m, imm8: helper(dst, src, shape, imm8).</summary>
    private void SseFpImmediate(in Instruction insn, HelperInfo helper, SseFpShape shape)
    {
        int bytes = SseFpSourceBytes(shape);
        int src = VectorSource(in insn, 1, bytes, aligned: bytes == 16);
        VectorCall(helper, XmmOffset(insn.Op0Register), src, (ulong)shape, insn.Immediate8);
    }

    /// <summary>
    /// PEXTRB/PEXTRD/PEXTRQ/EXTRACTPS r/m, xmm, imm8: lane imm8 mod (16 / size); a register
    /// destination is zero-extended (a 64-bit one too, for PEXTRB and EXTRACTPS with REX.W).
    /// </summary>
    private void ExtractLane(in Instruction insn, int size)
    {
        int index = insn.Immediate8 & ((16 / size) - 1);
        var v = b.LdState(XmmOffset(insn.Op1Register) + (index * size), T(size));
        if (insn.Op0Kind == OpKind.Memory)
        {
            StoreMem(EffectiveAddress(in insn), v);
            return;
        }

        WriteReg(insn.Op0Register, b.ZExt(v, TypeOf(in insn, 0)));
    }

    /// <summary>PINSRB/PINSRD/PINSRQ xmm, r/m, imm8: lane imm8 mod (16 / size) from the low bytes of the source.</summary>
    private void InsertLane(in Instruction insn, int size)
    {
        var v = insn.Op1Kind == OpKind.Memory ? LoadMem(EffectiveAddress(in insn), T(size)) : b.Trunc(ReadReg(insn.Op1Register), T(size));
        int index = insn.Immediate8 & ((16 / size) - 1);
        b.StState(XmmOffset(insn.Op0Register) + (index * size), v);
    }

    /// <summary>
    /// INSERTPS xmm1, xmm2/m32, imm8 (SDM Vol. 2A INSERTPS): source dword imm8[7:6] (a memory
    /// source is the dword itself) into destination dword imm8[5:4], then dwords in imm8[3:0] cleared.
    /// </summary>
    private void Insertps(in Instruction insn)
    {
        int imm = insn.Immediate8;
        int dst = XmmOffset(insn.Op0Register);
        var v = insn.Op1Kind == OpKind.Memory
            ? LoadMem(EffectiveAddress(in insn), IrType.I32)
            : b.LdState(XmmOffset(insn.Op1Register) + (4 * ((imm >> 6) & 3)), IrType.I32);
        b.StState(dst + (4 * ((imm >> 4) & 3)), v);
        for (int k = 0; k < 4; k++)
        {
            if (((imm >> k) & 1) != 0)
            {
                b.StState(dst + (4 * k), I32(0));
            }
        }
    }

    /// <summary>PCMPESTRI/PCMPESTRM (and their REX.W forms, lengths in RAX/RDX)/PCMPISTRI/PCMPISTRM xmm1, xmm2/m128, imm8: the helper writes ECX or XMM0 and answers the flags.</summary>
    private void StringCompare(in Instruction insn, ulong options)
    {
        int src = VectorSource(in insn, 1, 16, aligned: false);
        ulong control = insn.Immediate8 | options;
        var flags = CallHelper(SseStringCompare.Compare, I64((ulong)XmmOffset(insn.Op0Register)), I64((ulong)src), I64(control));
        SetFlagsMaterialized(flags);
    }

    /// <summary>CRC32 r32/r64, r/m8/16/32/64 (SDM Vol. 2A CRC32): the low 32 bits of the destination accumulate; the result is zero-extended.</summary>
    private void Crc32(in Instruction insn)
    {
        var dst = insn.Op0Register;
        var crc = b.ZExt(b.Trunc(ReadReg(dst), IrType.I32), IrType.I64);
        int bytes = SizeOf(in insn, 1);
        var value = b.ZExt(ReadOp(in insn, 1), IrType.I64);
        var r = b.Call(SseExtendedInt.Crc32, crc, value, I64((ulong)bytes));
        WriteReg(dst, b.Resize(b.Trunc(r, IrType.I32), TypeOf(in insn, 0)));
    }
}

using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// SSE/SSE2 floating point, legacy encodings: arithmetic, compares, conversions, MOVSS/MOVSD and
/// LDMXCSR/STMXCSR. The arithmetic is done by helpers on the software IEEE layer
/// (Helpers/SoftFloat*.cs), which gives results and MXCSR flags for every rounding mode, DAZ and
/// FTZ; unmasked exceptions raise #XM without writing the destination. A memory source is first
/// loaded into the scratch register (packed forms check 16-byte alignment, SDM Vol. 1 11.4.1).
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterSseFloat(Emitter?[] t)
    {
        SseFpRegisterArith(t, SseFloatArith.Add, Mnemonic.Addps, Mnemonic.Addpd, Mnemonic.Addss, Mnemonic.Addsd);
        SseFpRegisterArith(t, SseFloatArith.Sub, Mnemonic.Subps, Mnemonic.Subpd, Mnemonic.Subss, Mnemonic.Subsd);
        SseFpRegisterArith(t, SseFloatArith.Mul, Mnemonic.Mulps, Mnemonic.Mulpd, Mnemonic.Mulss, Mnemonic.Mulsd);
        SseFpRegisterArith(t, SseFloatArith.Div, Mnemonic.Divps, Mnemonic.Divpd, Mnemonic.Divss, Mnemonic.Divsd);
        SseFpRegisterArith(t, SseFloatArith.Min, Mnemonic.Minps, Mnemonic.Minpd, Mnemonic.Minss, Mnemonic.Minsd);
        SseFpRegisterArith(t, SseFloatArith.Max, Mnemonic.Maxps, Mnemonic.Maxpd, Mnemonic.Maxss, Mnemonic.Maxsd);
        SseFpRegisterArith(t, SseFloatArith.Sqrt, Mnemonic.Sqrtps, Mnemonic.Sqrtpd, Mnemonic.Sqrtss, Mnemonic.Sqrtsd);
        t[(int)Mnemonic.Rcpps] = static (tr, in i) => tr.SseFpArith(in i, SseFloatArith.Rcp, SseFpShape.Ps);
        t[(int)Mnemonic.Rcpss] = static (tr, in i) => tr.SseFpArith(in i, SseFloatArith.Rcp, SseFpShape.Ss);
        t[(int)Mnemonic.Rsqrtps] = static (tr, in i) => tr.SseFpArith(in i, SseFloatArith.Rsqrt, SseFpShape.Ps);
        t[(int)Mnemonic.Rsqrtss] = static (tr, in i) => tr.SseFpArith(in i, SseFloatArith.Rsqrt, SseFpShape.Ss);

        t[(int)Mnemonic.Cmpps] = static (tr, in i) => tr.SseFpCompare(in i, SseFpShape.Ps);
        t[(int)Mnemonic.Cmppd] = static (tr, in i) => tr.SseFpCompare(in i, SseFpShape.Pd);
        t[(int)Mnemonic.Cmpss] = static (tr, in i) => tr.SseFpCompare(in i, SseFpShape.Ss);
        t[(int)Mnemonic.Comiss] = static (tr, in i) => tr.SseFpComi(in i, SseFloatCompare.ComiSignalQNaN);
        t[(int)Mnemonic.Comisd] = static (tr, in i) => tr.SseFpComi(in i, SseFloatCompare.ComiSignalQNaN | SseFloatCompare.ComiDouble);
        t[(int)Mnemonic.Ucomiss] = static (tr, in i) => tr.SseFpComi(in i, 0);
        t[(int)Mnemonic.Ucomisd] = static (tr, in i) => tr.SseFpComi(in i, SseFloatCompare.ComiDouble);

        t[(int)Mnemonic.Cvtss2sd] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Ss2Sd, 4);
        t[(int)Mnemonic.Cvtsd2ss] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Sd2Ss, 8);
        t[(int)Mnemonic.Cvtps2pd] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Ps2Pd, 8);
        t[(int)Mnemonic.Cvtpd2ps] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Pd2Ps, 16);
        t[(int)Mnemonic.Cvtdq2ps] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Dq2Ps, 16);
        t[(int)Mnemonic.Cvtps2dq] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Ps2Dq, 16);
        t[(int)Mnemonic.Cvttps2dq] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Tps2Dq, 16);
        t[(int)Mnemonic.Cvtdq2pd] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Dq2Pd, 8);
        t[(int)Mnemonic.Cvtpd2dq] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Pd2Dq, 16);
        t[(int)Mnemonic.Cvttpd2dq] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Tpd2Dq, 16);
        t[(int)Mnemonic.Cvtpi2ps] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Pi2Ps, 8);
        t[(int)Mnemonic.Cvtpi2pd] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Pi2Pd, 8);
        t[(int)Mnemonic.Cvtps2pi] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Ps2Pi, 8);
        t[(int)Mnemonic.Cvttps2pi] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Tps2Pi, 8);
        t[(int)Mnemonic.Cvtpd2pi] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Pd2Pi, 16);
        t[(int)Mnemonic.Cvttpd2pi] = static (tr, in i) => tr.SseFpConvert(in i, SseFpConversion.Tpd2Pi, 16);
        t[(int)Mnemonic.Cvtss2si] = static (tr, in i) => tr.SseFpToInt(in i, 0);
        t[(int)Mnemonic.Cvttss2si] = static (tr, in i) => tr.SseFpToInt(in i, SseFloatConvert.Truncate);
        t[(int)Mnemonic.Cvtsd2si] = static (tr, in i) => tr.SseFpToInt(in i, SseFloatConvert.FromDouble);
        t[(int)Mnemonic.Cvttsd2si] = static (tr, in i) => tr.SseFpToInt(in i, SseFloatConvert.FromDouble | SseFloatConvert.Truncate);
        t[(int)Mnemonic.Cvtsi2ss] = static (tr, in i) => tr.SseFpFromInt(in i, 0);
        t[(int)Mnemonic.Cvtsi2sd] = static (tr, in i) => tr.SseFpFromInt(in i, SseFloatConvert.ToDouble);

        t[(int)Mnemonic.Movss] = static (tr, in i) => tr.SseFpMoveScalar(in i, 4);
        t[(int)Mnemonic.Ldmxcsr] = static (tr, in i) => tr.SseFpLdmxcsr(in i);
        t[(int)Mnemonic.Stmxcsr] = static (tr, in i) => tr.SseFpStmxcsr(in i);

        // MOVSD and CMPSD are also the string instructions' mnemonics (Iced tells them apart by
        // Code only): take the SSE2 forms and hand the rest to the string group's emitter.
        var stringMovsd = t[(int)Mnemonic.Movsd];
        t[(int)Mnemonic.Movsd] = (tr, in i) =>
        {
            if (i.Code is Code.Movsd_xmm_xmmm64 or Code.Movsd_xmmm64_xmm)
            {
                tr.SseFpMoveScalar(in i, 8);
            }
            else if (stringMovsd is not null)
            {
                stringMovsd(tr, in i);
            }
            else
            {
                tr.RaiseUd();
            }
        };
        var stringCmpsd = t[(int)Mnemonic.Cmpsd];
        t[(int)Mnemonic.Cmpsd] = (tr, in i) =>
        {
            if (i.Code == Code.Cmpsd_xmm_xmmm64_imm8)
            {
                tr.SseFpCompare(in i, SseFpShape.Sd);
            }
            else if (stringCmpsd is not null)
            {
                stringCmpsd(tr, in i);
            }
            else
            {
                tr.RaiseUd();
            }
        };
    }

    private static void SseFpRegisterArith(Emitter?[] t, HelperInfo helper, Mnemonic ps, Mnemonic pd, Mnemonic ss, Mnemonic sd)
    {
        t[(int)ps] = (tr, in i) => tr.SseFpArith(in i, helper, SseFpShape.Ps);
        t[(int)pd] = (tr, in i) => tr.SseFpArith(in i, helper, SseFpShape.Pd);
        t[(int)ss] = (tr, in i) => tr.SseFpArith(in i, helper, SseFpShape.Ss);
        t[(int)sd] = (tr, in i) => tr.SseFpArith(in i, helper, SseFpShape.Sd);
    }

    /// <summary>Bytes of the source operand of a shape: a whole register for packed forms, one element for scalar ones.</summary>
    private static int SseFpSourceBytes(SseFpShape shape) => shape switch
    {
        SseFpShape.Ss => 4,
        SseFpShape.Sd => 8,
        _ => 16,
    };

    /// <summary>ADDPS xmm1, xmm2/m128 and the rest of the two-operand arithmetic.</summary>
    private void SseFpArith(in Instruction insn, HelperInfo helper, SseFpShape shape)
    {
        int bytes = SseFpSourceBytes(shape);
        int src = VectorSource(in insn, 1, bytes, aligned: bytes == 16);
        VectorCall(helper, XmmOffset(insn.Op0Register), src, (ulong)shape);
    }

    /// <summary>CMPPS xmm1, xmm2/m128, imm8 (predicate imm8[2:0]).</summary>
    private void SseFpCompare(in Instruction insn, SseFpShape shape)
    {
        int bytes = SseFpSourceBytes(shape);
        int src = VectorSource(in insn, 1, bytes, aligned: bytes == 16);
        VectorCall(SseFloatCompare.Cmp, XmmOffset(insn.Op0Register), src, insn.Immediate8, (ulong)shape);
    }

    /// <summary>COMISS xmm1, xmm2/m32 and friends: ZF, PF, CF from the compare; OF, SF, AF cleared.</summary>
    private void SseFpComi(in Instruction insn, ulong mode)
    {
        int bytes = (mode & SseFloatCompare.ComiDouble) != 0 ? 8 : 4;
        int src = VectorSource(in insn, 1, bytes);
        var flags = VectorCall(SseFloatCompare.Comi, XmmOffset(insn.Op0Register), src, mode);
        SetFlagsMaterialized(flags);
    }

    /// <summary>A conversion between XMM (or MMX) registers; <paramref name="bytes"/> is the memory source size.</summary>
    private void SseFpConvert(in Instruction insn, SseFpConversion conversion, int bytes)
    {
        bool mmxSource = insn.GetOpKind(1) == OpKind.Register && insn.Op1Register.IsMM();
        int src = VectorSource(in insn, 1, bytes, aligned: bytes == 16);
        var dstReg = insn.Op0Register;
        int dst = dstReg.IsMM() ? MmOffset(dstReg) : XmmOffset(dstReg);
        VectorCall(SseFloatConvert.Cvt, dst, src, (ulong)conversion, mmxSource ? 1UL : 0);
    }

    /// <summary>CVTSS2SI r32/r64, xmm/m32 (and SD, and the truncating forms).</summary>
    private void SseFpToInt(in Instruction insn, ulong mode)
    {
        var dst = insn.Op0Register;
        if (dst.GetSize() == 8)
        {
            mode |= SseFloatConvert.Int64;
        }

        int src = VectorSource(in insn, 1, (mode & SseFloatConvert.FromDouble) != 0 ? 8 : 4);
        var v = b.Call(SseFloatConvert.ToInt, I64((ulong)src), I64(mode), I64(0), I64(0));
        ResetFlagKnowledge();
        WriteReg(dst, b.Trunc(v, T(dst.GetSize())));
    }

    /// <summary>CVTSI2SS xmm, r/m32 or r/m64 (and SD).</summary>
    private void SseFpFromInt(in Instruction insn, ulong mode)
    {
        var v = ReadOp(in insn, 1);
        if (v.Type == IrType.I64)
        {
            mode |= SseFloatConvert.Int64;
        }

        b.Call(SseFloatConvert.FromInt, I64((ulong)XmmOffset(insn.Op0Register)), b.ZExt(v, IrType.I64), I64(mode), I64(0));
        ResetFlagKnowledge();
    }

    /// <summary>
    /// MOVSS/MOVSD (SSE2): register to register copies the low element and keeps the rest; a load
    /// zeroes the rest of the register; a store writes the element alone.
    /// </summary>
    private void SseFpMoveScalar(in Instruction insn, int bytes)
    {
        var type = bytes == 4 ? IrType.I32 : IrType.I64;
        if (insn.GetOpKind(0) == OpKind.Memory)
        {
            StoreMem(EffectiveAddress(in insn), b.LdState(XmmOffset(insn.Op1Register), type));
            return;
        }

        int dst = XmmOffset(insn.Op0Register);
        if (insn.GetOpKind(1) == OpKind.Register)
        {
            b.StState(dst, b.LdState(XmmOffset(insn.Op1Register), type));
            return;
        }

        var v = LoadMem(EffectiveAddress(in insn), type);
        b.StState(dst, b.ZExt(v, IrType.I64));
        b.StState(dst + 8, I64(0));
    }

    /// <summary>LDMXCSR m32: #GP(0) if the value sets a reserved bit (those clear in MXCSR_MASK).</summary>
    private void SseFpLdmxcsr(in Instruction insn)
    {
        var v = LoadMem(EffectiveAddress(in insn), IrType.I32);
        b.Call(SseFloatConvert.Ldmxcsr, b.ZExt(v, IrType.I64), I64(0), I64(0), I64(0));
    }

    /// <summary>STMXCSR m32.</summary>
    private void SseFpStmxcsr(in Instruction insn) =>
        StoreMem(EffectiveAddress(in insn), b.LdState(CpuStateOffsets.Mxcsr, IrType.I32));
}

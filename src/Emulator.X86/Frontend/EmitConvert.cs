using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Conversions and flag moves: CBW CWDE CDQE CWD CDQ CQO, LAHF SAHF, XLAT (SDM Vol. 2A), and,
/// in 16- and 32-bit code only, the BCD adjustments DAA DAS AAA AAS AAM AAD and the
/// undocumented SALC (AL = CF ? FF : 0). Iced decodes those as invalid in 64-bit mode, which
/// raises #UD.
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterConvert(Emitter?[] t)
    {
        t[(int)Mnemonic.Cbw] = static (tr, in i) => tr.SignExtendAccumulator(Register.AL, Register.AX);
        t[(int)Mnemonic.Cwde] = static (tr, in i) => tr.SignExtendAccumulator(Register.AX, Register.EAX);
        t[(int)Mnemonic.Cdqe] = static (tr, in i) => tr.SignExtendAccumulator(Register.EAX, Register.RAX);
        t[(int)Mnemonic.Cwd] = static (tr, in i) => tr.SignToHighHalf(Register.AX, Register.DX);
        t[(int)Mnemonic.Cdq] = static (tr, in i) => tr.SignToHighHalf(Register.EAX, Register.EDX);
        t[(int)Mnemonic.Cqo] = static (tr, in i) => tr.SignToHighHalf(Register.RAX, Register.RDX);
        t[(int)Mnemonic.Lahf] = static (tr, in i) => tr.Lahf();
        t[(int)Mnemonic.Sahf] = static (tr, in i) => tr.Sahf();
        t[(int)Mnemonic.Xlatb] = static (tr, in i) => tr.Xlat(in i);
        t[(int)Mnemonic.Daa] = static (tr, in i) => tr.DecimalAdjust(BcdHelpers.Daa);
        t[(int)Mnemonic.Das] = static (tr, in i) => tr.DecimalAdjust(BcdHelpers.Das);
        t[(int)Mnemonic.Aaa] = static (tr, in i) => tr.DecimalAdjust(BcdHelpers.Aaa);
        t[(int)Mnemonic.Aas] = static (tr, in i) => tr.DecimalAdjust(BcdHelpers.Aas);
        t[(int)Mnemonic.Aam] = static (tr, in i) => tr.Aam(in i);
        t[(int)Mnemonic.Aad] = static (tr, in i) => tr.Aad(in i);
        t[(int)Mnemonic.Salc] = static (tr, in i) => tr.WriteReg(Register.AL, tr.b.Neg(tr.CarryFlag()));
    }

    private void SignExtendAccumulator(Register from, Register to) => WriteReg(to, b.SExt(ReadReg(from), T(to.GetSize())));

    /// <summary>CWD/CDQ/CQO: the high half becomes all copies of the accumulator's sign bit.</summary>
    private void SignToHighHalf(Register from, Register to)
    {
        var v = ReadReg(from);
        WriteReg(to, b.Sar(v, Const((ulong)v.Type.Bits() - 1, v.Type)));
    }

    /// <summary>LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.</summary>
    private void Lahf()
    {
        const ulong Bits = (ulong)(RFlags.SF | RFlags.ZF | RFlags.AF | RFlags.PF | RFlags.CF);
        var f = b.Or(b.And(ArithFlags(), I64(Bits)), I64((ulong)RFlags.Fixed1));
        WriteReg(Register.AH, b.Trunc(f, IrType.I8));
    }

    /// <summary>SAHF: SF, ZF, AF, PF and CF from AH; OF unchanged.</summary>
    private void Sahf()
    {
        const ulong Bits = (ulong)(RFlags.SF | RFlags.ZF | RFlags.AF | RFlags.PF | RFlags.CF);
        var ah = b.And(b.ZExt(ReadReg(Register.AH), IrType.I64), I64(Bits));
        SetFlagsMaterialized(b.Or(b.And(ArithFlags(), I64((ulong)RFlags.OF)), ah));
    }

    /// <summary>XLAT: AL = byte at seg:[rBX + zero-extended AL], wrapped to the address size.</summary>
    private void Xlat(in Instruction insn)
    {
        var offset = WrapTo(b.Add(Gpr64((int)Gpr.Rbx), b.ZExt(ReadReg(Register.AL), IrType.I64)), AddressSize(in insn));
        WriteReg(Register.AL, LoadMem(Linear(insn.MemorySegment, offset), IrType.I8));
    }

    /// <summary>DAA DAS AAA AAS: a helper returns the new AX and, shifted left by 16, the new arithmetic flags.</summary>
    private void DecimalAdjust(HelperInfo helper)
    {
        var r = b.Call(helper, ReadReg(Register.AX), ArithFlags());
        WriteReg(Register.AX, b.Trunc(r, IrType.I16));
        SetFlagsMaterialized(b.Shr(r, I64(16)));
    }

    /// <summary>AAM base: AH = AL / base, AL = AL % base; #DE for base 0. SF, ZF, PF from AL; OF, AF, CF undefined (0).</summary>
    private void Aam(in Instruction insn)
    {
        ulong divisor = insn.GetImmediate(0) & 0xff;
        if (divisor == 0)
        {
            Raise(Vector.DE);
            return;
        }

        var ax = b.Trunc(b.Call(BcdHelpers.Aam, ReadReg(Register.AL), I64(divisor)), IrType.I16);
        WriteReg(Register.AX, ax);
        var al = b.Trunc(ax, IrType.I8);
        SetCc(CcKind.Logic, al, al, I8(0));
    }

    /// <summary>AAD base: AL = AL + AH * base (mod 256), AH = 0. SF, ZF, PF from AL; OF, AF, CF undefined (0).</summary>
    private void Aad(in Instruction insn)
    {
        var al = b.Add(ReadReg(Register.AL), b.Mul(ReadReg(Register.AH), I8(insn.GetImmediate(0))));
        WriteReg(Register.AX, b.ZExt(al, IrType.I16));
        SetCc(CcKind.Logic, al, al, I8(0));
    }
}

using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;
using Ctl = Emulator.X86.Helpers.X87Control;

namespace Emulator.X86.Frontend;

/// <summary>
/// x87 control instructions (SDM Vol. 2A): FNSTSW FNSTCW FLDCW FNCLEX FNINIT and their waiting
/// forms, FWAIT, FXCH FFREE FFREEP FINCSTP FDECSTP FNOP FCMOVcc, FNSTENV FLDENV FNSAVE FRSTOR,
/// FXSAVE FXRSTOR (and the 64-bit forms).
/// </summary>
public sealed partial class Translator
{
    private static void RegisterX87Control(Emitter?[] t)
    {
        t[(int)Mnemonic.Fnstsw] = static (tr, in i) => tr.Fstsw(in i, wait: false);
        t[(int)Mnemonic.Fstsw] = static (tr, in i) => tr.Fstsw(in i, wait: true);
        t[(int)Mnemonic.Fnstcw] = static (tr, in i) => tr.Fstcw(in i, wait: false);
        t[(int)Mnemonic.Fstcw] = static (tr, in i) => tr.Fstcw(in i, wait: true);
        t[(int)Mnemonic.Fldcw] = static (tr, in i) => tr.b.Call(Ctl.LoadControlWord, tr.LoadMem(tr.EffectiveAddress(in i), IrType.I16));
        t[(int)Mnemonic.Fnclex] = static (tr, in i) => tr.Fclex(wait: false);
        t[(int)Mnemonic.Fclex] = static (tr, in i) => tr.Fclex(wait: true);
        t[(int)Mnemonic.Fninit] = static (tr, in i) => tr.Finit(wait: false);
        t[(int)Mnemonic.Finit] = static (tr, in i) => tr.Finit(wait: true);
        t[(int)Mnemonic.Wait] = static (tr, in i) => tr.b.Call(Ctl.Wait);

        // 8087/287/387SL leftovers that later processors execute as FNOP.
        t[(int)Mnemonic.Fnop] = static (tr, in i) => tr.Fnop(in i);
        t[(int)Mnemonic.Fneni] = static (tr, in i) => tr.X87ControlChecks(wait: false);
        t[(int)Mnemonic.Fndisi] = static (tr, in i) => tr.X87ControlChecks(wait: false);
        t[(int)Mnemonic.Fnsetpm] = static (tr, in i) => tr.X87ControlChecks(wait: false);
        t[(int)Mnemonic.Feni] = static (tr, in i) => tr.X87ControlChecks(wait: true);
        t[(int)Mnemonic.Fdisi] = static (tr, in i) => tr.X87ControlChecks(wait: true);
        t[(int)Mnemonic.Fsetpm] = static (tr, in i) => tr.X87ControlChecks(wait: true);

        t[(int)Mnemonic.Fxch] = static (tr, in i) => tr.FstackOp(in i, Ctl.Fxch, i.OpCount >= 2 ? i.Op1Register : Register.ST1);
        t[(int)Mnemonic.Ffree] = static (tr, in i) => tr.FstackOp(in i, Ctl.Ffree, i.Op0Register);
        t[(int)Mnemonic.Ffreep] = static (tr, in i) => tr.FstackOp(in i, Ctl.Ffreep, i.Op0Register);
        t[(int)Mnemonic.Fincstp] = static (tr, in i) => tr.FstackOp(in i, Ctl.Fincstp, Register.ST0);
        t[(int)Mnemonic.Fdecstp] = static (tr, in i) => tr.FstackOp(in i, Ctl.Fdecstp, Register.ST0);
        t[(int)Mnemonic.Fcmovb] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.b);
        t[(int)Mnemonic.Fcmove] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.e);
        t[(int)Mnemonic.Fcmovbe] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.be);
        t[(int)Mnemonic.Fcmovu] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.p);
        t[(int)Mnemonic.Fcmovnb] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.ae);
        t[(int)Mnemonic.Fcmovne] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.ne);
        t[(int)Mnemonic.Fcmovnbe] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.a);
        t[(int)Mnemonic.Fcmovnu] = static (tr, in i) => tr.Fcmov(in i, ConditionCode.np);

        t[(int)Mnemonic.Fnstenv] = static (tr, in i) => tr.Fenv(in i, store: true, registers: false, wait: false);
        t[(int)Mnemonic.Fstenv] = static (tr, in i) => tr.Fenv(in i, store: true, registers: false, wait: true);
        t[(int)Mnemonic.Fldenv] = static (tr, in i) => tr.Fenv(in i, store: false, registers: false, wait: false);
        t[(int)Mnemonic.Fnsave] = static (tr, in i) => tr.Fenv(in i, store: true, registers: true, wait: false);
        t[(int)Mnemonic.Fsave] = static (tr, in i) => tr.Fenv(in i, store: true, registers: true, wait: true);
        t[(int)Mnemonic.Frstor] = static (tr, in i) => tr.Fenv(in i, store: false, registers: true, wait: false);
        t[(int)Mnemonic.Fxsave] = static (tr, in i) => tr.Fxsave(in i, save: true, rexW: false);
        t[(int)Mnemonic.Fxsave64] = static (tr, in i) => tr.Fxsave(in i, save: true, rexW: true);
        t[(int)Mnemonic.Fxrstor] = static (tr, in i) => tr.Fxsave(in i, save: false, rexW: false);
        t[(int)Mnemonic.Fxrstor64] = static (tr, in i) => tr.Fxsave(in i, save: false, rexW: true);
    }

    /// <summary>
    /// The checks of a control instruction lowered to IR: the WAIT of its waiting form, then #NM
    /// when CR0.EM or CR0.TS is set (the FN* forms do not check for pending exceptions).
    /// </summary>
    private void X87ControlChecks(bool wait)
    {
        if (wait)
        {
            b.Call(Ctl.Wait);
        }

        b.Call(Ctl.Available);
    }

    /// <summary>FSTSW/FNSTSW to AX or m16.</summary>
    private void Fstsw(in Instruction insn, bool wait)
    {
        X87ControlChecks(wait);

        var fsw = b.LdState(CpuStateOffsets.Fsw, IrType.I16);
        if (insn.Op0Kind == OpKind.Register)
        {
            WriteReg(Register.AX, fsw);
        }
        else
        {
            StoreMem(EffectiveAddress(in insn), fsw);
        }
    }

    private void Fstcw(in Instruction insn, bool wait)
    {
        X87ControlChecks(wait);

        StoreMem(EffectiveAddress(in insn), b.LdState(CpuStateOffsets.Fcw, IrType.I16));
    }

    /// <summary>FCLEX: clears the exception flags, ES, SF and B; C0-C3 and TOP stay.</summary>
    private void Fclex(bool wait)
    {
        X87ControlChecks(wait);

        b.StState(CpuStateOffsets.Fsw, b.And(b.LdState(CpuStateOffsets.Fsw, IrType.I16), I16(0x7F00)));
    }

    /// <summary>FINIT: FCW 037FH, FSW 0, all tags empty, FIP FDP FOP 0 (SDM Vol. 2A FINIT/FNINIT).</summary>
    private void Finit(bool wait)
    {
        X87ControlChecks(wait);

        b.StState(CpuStateOffsets.Fcw, I16(0x037F));
        b.StState(CpuStateOffsets.Fsw, I16(0));
        b.StState(CpuStateOffsets.Ftw, I16(0xFFFF));
        b.StState(FopOffset, I16(0));
        b.StState(FipOffset, I64(0));
        b.StState(FdpOffset, I64(0));
    }

    /// <summary>FNOP is a waiting instruction: #NM, then a pending #MF, then nothing.</summary>
    private void Fnop(in Instruction insn)
    {
        b.Call(Ctl.Available);
        b.Call(Ctl.Wait);
        X87Retire(in insn, default);
    }

    private void FstackOp(in Instruction insn, int op, Register st)
    {
        b.Call(Ctl.Stack, I64((ulong)op), I64((ulong)StIndex(st)), I64(0));
        X87Retire(in insn, default);
    }

    /// <summary>FCMOVcc ST(0), ST(i): the EFLAGS condition is computed in IR and passed to the helper.</summary>
    private void Fcmov(in Instruction insn, ConditionCode cc)
    {
        var cond = Condition(cc);
        b.Call(Ctl.Stack, I64(Ctl.Fcmov), I64((ulong)StIndex(insn.Op1Register)), cond);
        X87Retire(in insn, default);
    }

    /// <summary>FSTENV FLDENV FSAVE FRSTOR: the 14/94-byte (16-bit) or 28/108-byte (32-bit) images, real or protected layout.</summary>
    private void Fenv(in Instruction insn, bool store, bool registers, bool wait)
    {
        if (wait)
        {
            b.Call(Ctl.Wait);
        }

        bool small = insn.MemorySize is MemorySize.FpuEnv14 or MemorySize.FpuState94;
        int flags = (small ? Ctl.Env16 : 0) | (registers ? Ctl.EnvWithRegisters : 0) | (Mode.IsReal ? Ctl.EnvRealMode : 0);
        var addr = EffectiveAddress(in insn);
        b.Call(store ? Ctl.StoreEnv : Ctl.LoadEnv, addr, I64((ulong)flags));
        if (store)
        {
            stored = true;
        }
    }

    private void Fxsave(in Instruction insn, bool save, bool rexW)
    {
        int flags = (rexW ? X87Fxsave.RexW : 0) | (Mode.Is64 ? X87Fxsave.Mode64 : 0);
        var addr = EffectiveAddress(in insn);
        b.Call(save ? X87Fxsave.Save : X87Fxsave.Restore, addr, I64((ulong)flags));
        if (save)
        {
            stored = true;
        }
    }
}

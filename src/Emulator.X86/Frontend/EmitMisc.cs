using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>Miscellaneous: CLC STC CMC CLD STD, HLT, UD0-2 (their delivery through the IDT comes with the system-level CPU).</summary>
public sealed partial class Translator
{
    static partial void RegisterMisc(Emitter?[] t)
    {
        t[(int)Mnemonic.Hlt] = static (tr, in i) => tr.HltInstruction();
        t[(int)Mnemonic.Ud2] = static (tr, in i) => tr.RaiseUd();
        t[(int)Mnemonic.Ud0] = static (tr, in i) => tr.RaiseUd();
        t[(int)Mnemonic.Ud1] = static (tr, in i) => tr.RaiseUd();
        t[(int)Mnemonic.Clc] = static (tr, in i) => tr.SetFlagsMaterialized(tr.b.And(tr.ArithFlags(), I64(~(ulong)RFlags.CF)));
        t[(int)Mnemonic.Stc] = static (tr, in i) => tr.SetFlagsMaterialized(tr.b.Or(tr.ArithFlags(), I64((ulong)RFlags.CF)));
        t[(int)Mnemonic.Cmc] = static (tr, in i) => tr.SetFlagsMaterialized(tr.b.Xor(tr.ArithFlags(), I64((ulong)RFlags.CF)));
        t[(int)Mnemonic.Cld] = static (tr, in i) => tr.SetSystemFlag(RFlags.DF, false);
        t[(int)Mnemonic.Std] = static (tr, in i) => tr.SetSystemFlag(RFlags.DF, true);
    }

    /// <summary>Sets or clears a non-arithmetic RFLAGS bit.</summary>
    private void SetSystemFlag(RFlags flag, bool on)
    {
        var f = b.LdState(CpuStateOffsets.Rflags, Emulator.Ir.IrType.I64);
        b.StState(CpuStateOffsets.Rflags, on ? b.Or(f, I64((ulong)flag)) : b.And(f, I64(~(ulong)flag)));
    }

    private void Hlt()
    {
        b.StState(CpuStateOffsets.Halted, I32(1));
        EndWithExit();
    }
}

using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// String instructions: MOVS CMPS SCAS LODS STOS in byte/word/dword/qword forms, with REP,
/// REPE/REPZ and REPNE/REPNZ (SDM Vol. 2 "MOVS", "REP/REPE/REPZ/REPNE/REPNZ"; Vol. 1 7.3.9).
/// The source is seg:(E/R)SI, DS unless overridden; the destination is always ES:(E/R)DI. The
/// address size (16/32/64, changed by 67h) picks SI/DI/CX, ESI/EDI/ECX or RSI/RDI/RCX. A single
/// instruction is lowered in IR; a REP form runs as a helper loop (StringHelpers) that keeps
/// the registers precise, so a fault part-way leaves RIP at the instruction and it resumes.
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterString(Emitter?[] t)
    {
        t[(int)Mnemonic.Movsb] = static (tr, in i) => tr.StringInsn(in i, StringKind.Movs);
        t[(int)Mnemonic.Movsw] = static (tr, in i) => tr.StringInsn(in i, StringKind.Movs);
        t[(int)Mnemonic.Movsq] = static (tr, in i) => tr.StringInsn(in i, StringKind.Movs);
        t[(int)Mnemonic.Cmpsb] = static (tr, in i) => tr.StringInsn(in i, StringKind.Cmps);
        t[(int)Mnemonic.Cmpsw] = static (tr, in i) => tr.StringInsn(in i, StringKind.Cmps);
        t[(int)Mnemonic.Cmpsq] = static (tr, in i) => tr.StringInsn(in i, StringKind.Cmps);
        t[(int)Mnemonic.Scasb] = static (tr, in i) => tr.StringInsn(in i, StringKind.Scas);
        t[(int)Mnemonic.Scasw] = static (tr, in i) => tr.StringInsn(in i, StringKind.Scas);
        t[(int)Mnemonic.Scasd] = static (tr, in i) => tr.StringInsn(in i, StringKind.Scas);
        t[(int)Mnemonic.Scasq] = static (tr, in i) => tr.StringInsn(in i, StringKind.Scas);
        t[(int)Mnemonic.Lodsb] = static (tr, in i) => tr.StringInsn(in i, StringKind.Lods);
        t[(int)Mnemonic.Lodsw] = static (tr, in i) => tr.StringInsn(in i, StringKind.Lods);
        t[(int)Mnemonic.Lodsd] = static (tr, in i) => tr.StringInsn(in i, StringKind.Lods);
        t[(int)Mnemonic.Lodsq] = static (tr, in i) => tr.StringInsn(in i, StringKind.Lods);
        t[(int)Mnemonic.Stosb] = static (tr, in i) => tr.StringInsn(in i, StringKind.Stos);
        t[(int)Mnemonic.Stosw] = static (tr, in i) => tr.StringInsn(in i, StringKind.Stos);
        t[(int)Mnemonic.Stosd] = static (tr, in i) => tr.StringInsn(in i, StringKind.Stos);
        t[(int)Mnemonic.Stosq] = static (tr, in i) => tr.StringInsn(in i, StringKind.Stos);

        // MOVSD and CMPSD share their mnemonics with the SSE2 scalar-double instructions. This
        // group registers last (Translator.BuildTable) and keeps whatever SSE emitter is there
        // for the other encodings.
        var sseMovsd = t[(int)Mnemonic.Movsd];
        var sseCmpsd = t[(int)Mnemonic.Cmpsd];
        t[(int)Mnemonic.Movsd] = (tr, in i) => tr.StringOrOther(in i, Code.Movsd_m32_m32, StringKind.Movs, sseMovsd);
        t[(int)Mnemonic.Cmpsd] = (tr, in i) => tr.StringOrOther(in i, Code.Cmpsd_m32_m32, StringKind.Cmps, sseCmpsd);
    }

    /// <summary>Lowers the string form <paramref name="code"/> of a shared mnemonic, or hands the instruction to <paramref name="other"/> (#UD without one).</summary>
    private void StringOrOther(in Instruction insn, Code code, StringKind kind, Emitter? other)
    {
        if (insn.Code == code)
        {
            StringInsn(in insn, kind);
        }
        else if (other is not null)
        {
            other(this, in insn);
        }
        else
        {
            unimplemented.TryAdd(insn.Mnemonic, 0);
            RaiseUd();
        }
    }

    /// <summary>Address size of a string instruction, in bytes, from its implicit memory operand kind.</summary>
    private static int StringAddressSize(in Instruction insn)
    {
        for (int n = 0; n < insn.OpCount; n++)
        {
            switch (insn.GetOpKind(n))
            {
                case OpKind.MemorySegSI or OpKind.MemoryESDI: return 2;
                case OpKind.MemorySegESI or OpKind.MemoryESEDI: return 4;
                case OpKind.MemorySegRSI or OpKind.MemoryESRDI: return 8;
            }
        }

        throw new InvalidOperationException($"{insn} has no string memory operand");
    }

    private static bool UsesSource(StringKind op) => op is StringKind.Movs or StringKind.Cmps or StringKind.Lods;

    private static bool UsesDestination(StringKind op) => op is not StringKind.Lods;

    private void StringInsn(in Instruction insn, StringKind op)
    {
        int size = insn.MemorySize.GetSize();
        int asz = StringAddressSize(in insn);

        // REP, REPE and REPNE all repeat MOVS/LODS/STOS unconditionally; CMPS/SCAS test ZF.
        bool compares = op is StringKind.Cmps or StringKind.Scas;
        var rep = insn.HasRepePrefix ? RepKind.RepE : insn.HasRepnePrefix ? RepKind.RepNE : RepKind.None;
        if (rep != RepKind.None)
        {
            RepStringOp(in insn, op, compares ? rep : RepKind.RepE, size, asz);
            return;
        }

        var t = T(size);
        var acc = AccumulatorOf(size);

        // Delta per element: +size, or -size when DF = 1.
        var df = b.And(b.Shr(b.LdState(CpuStateOffsets.Rflags, IrType.I64), I64(10)), I64(1));
        var delta = b.Select(df, I64((ulong)-(long)size), I64((ulong)size));
        ulong amask = asz == 8 ? ulong.MaxValue : asz == 4 ? 0xffff_ffffUL : 0xffffUL;

        Operand si = default, di = default, srcAddr = default, dstAddr = default;
        if (UsesSource(op))
        {
            si = b.And(Gpr64((int)Gpr.Rsi), I64(amask));
            srcAddr = Linear(insn.MemorySegment, si);
        }

        if (UsesDestination(op))
        {
            di = b.And(Gpr64((int)Gpr.Rdi), I64(amask));
            dstAddr = Linear(Register.ES, di);
        }

        switch (op)
        {
            case StringKind.Movs:
                StoreMem(dstAddr, LoadMem(srcAddr, t));
                break;
            case StringKind.Lods:
                WriteReg(acc, LoadMem(srcAddr, t));
                break;
            case StringKind.Stos:
                StoreMem(dstAddr, ReadReg(acc));
                break;
            case StringKind.Cmps:
            {
                // CMPS compares [src] - [dest] (SDM Vol. 2A CMPS: SRC1 is seg:rSI, SRC2 is ES:rDI).
                var x = LoadMem(srcAddr, t);
                var y = LoadMem(dstAddr, t);
                SetCc(CcKind.Sub, b.Sub(x, y), x, y);
                break;
            }

            case StringKind.Scas:
            {
                var x = ReadReg(acc);
                var y = LoadMem(dstAddr, t);
                SetCc(CcKind.Sub, b.Sub(x, y), x, y);
                break;
            }
        }

        if (UsesSource(op))
        {
            SetIndexRegister(Gpr.Rsi, b.Add(si, delta), asz);
        }

        if (UsesDestination(op))
        {
            SetIndexRegister(Gpr.Rdi, b.Add(di, delta), asz);
        }
    }

    /// <summary>
    /// A REP-prefixed string instruction: a helper loop that stores RSI/RDI/RCX (and the
    /// flags of the last comparison) itself. It returns non-zero when it stopped early for an
    /// exit request, and the instruction then runs again from its start with the updated
    /// registers. The block ends after it.
    /// </summary>
    private void RepStringOp(in Instruction insn, StringKind op, RepKind rep, int size, int asz)
    {
        ulong desc = StringHelpers.Describe(size, asz, Mode.Is64, rep == RepKind.RepNE);
        var srcBase = UsesSource(op) ? Linear(insn.MemorySegment, I64(0)) : I64(0);
        var dstBase = UsesDestination(op) ? Linear(Register.ES, I64(0)) : I64(0);
        var helper = op switch
        {
            StringKind.Movs => StringHelpers.RepMovs,
            StringKind.Cmps => StringHelpers.RepCmps,
            StringKind.Scas => StringHelpers.RepScas,
            StringKind.Lods => StringHelpers.RepLods,
            _ => StringHelpers.RepStos,
        };
        var stopped = b.Call(helper, I64(desc), srcBase, dstBase);

        // The helper wrote registers and, for CMPS/SCAS, cc_op and its operands in state.
        ResetFlagKnowledge();
        b.RetryIf(stopped);
        if (op is StringKind.Movs or StringKind.Stos)
        {
            // The loop may have overwritten this block's code.
            b.SmcCheck(NextPc);
        }

        EndWithGoto(NextPc);
    }

    private static Register AccumulatorOf(int size) => size switch
    {
        1 => Register.AL,
        2 => Register.AX,
        4 => Register.EAX,
        _ => Register.RAX,
    };

    /// <summary>Writes SI/ESI/RSI (or DI, CX) by the address size: 16 bits keep the rest, 32 bits zero-extend.</summary>
    private void SetIndexRegister(Gpr reg, Operand value64, int asz)
    {
        var r = asz switch
        {
            2 => Register.AX + (int)reg,
            4 => Register.EAX + (int)reg,
            _ => Register.RAX + (int)reg,
        };
        WriteReg(r, b.Trunc(value64, T(asz)));
    }
}

/// <summary>The five string operations.</summary>
public enum StringKind
{
    Movs,
    Cmps,
    Scas,
    Lods,
    Stos,
}

/// <summary>A repeat prefix as it applies to one string instruction.</summary>
public enum RepKind
{
    None,

    /// <summary>REP, or REPE/REPZ on CMPS/SCAS (stop when ZF = 0).</summary>
    RepE,

    /// <summary>REPNE/REPNZ on CMPS/SCAS (stop when ZF = 1).</summary>
    RepNE,
}

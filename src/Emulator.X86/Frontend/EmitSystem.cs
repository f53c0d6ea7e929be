using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// System instructions (SDM Vol. 2 and Vol. 3A): control and debug registers, descriptor tables,
/// segment loads, far transfers, IRET, INT n, the fast system calls, port I/O, MSRs, CPUID,
/// RDTSC, CLI/STI, INVLPG and the fences. Privilege checks that depend only on CPL are made at
/// translation time (CPL is part of the block key); the rest happen in helpers. Instructions
/// that change the mode or RIP end the block.
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterSystem(Emitter?[] t)
    {
        t[(int)Mnemonic.Cpuid] = static (tr, in i) => tr.CallHelper(SystemHelpers.CpuidHelper);
        t[(int)Mnemonic.Rdtsc] = static (tr, in i) => tr.CallHelper(SystemHelpers.Rdtsc, I64(0));
        t[(int)Mnemonic.Rdtscp] = static (tr, in i) => tr.CallHelper(SystemHelpers.Rdtsc, I64(1));
        t[(int)Mnemonic.Rdmsr] = static (tr, in i) => { if (tr.RequireCpl0()) tr.CallHelper(SystemHelpers.Rdmsr); };
        t[(int)Mnemonic.Wrmsr] = static (tr, in i) =>
        {
            if (!tr.RequireCpl0())
            {
                return;
            }

            tr.CallHelper(SystemHelpers.Wrmsr);
            tr.EndWithExit(); // EFER and the segment bases change how code runs
        };
        t[(int)Mnemonic.Cli] = static (tr, in i) => tr.CallHelper(SystemHelpers.Cli);
        t[(int)Mnemonic.Sti] = static (tr, in i) =>
        {
            tr.CallHelper(SystemHelpers.Sti);
            tr.endAfterNext = true; // the interrupt shadow: the next instruction runs before any interrupt
        };
        t[(int)Mnemonic.Lgdt] = static (tr, in i) => tr.TableRegister(in i, 0, load: true);
        t[(int)Mnemonic.Lidt] = static (tr, in i) => tr.TableRegister(in i, 1, load: true);
        t[(int)Mnemonic.Sgdt] = static (tr, in i) => tr.TableRegister(in i, 0, load: false);
        t[(int)Mnemonic.Sidt] = static (tr, in i) => tr.TableRegister(in i, 1, load: false);
        t[(int)Mnemonic.Lldt] = static (tr, in i) => { if (tr.RequireCpl0()) tr.CallHelper(SystemHelpers.Lldt, tr.ReadOp(in i, 0, IrType.I16)); };
        t[(int)Mnemonic.Ltr] = static (tr, in i) => { if (tr.RequireCpl0()) tr.CallHelper(SystemHelpers.Ltr, tr.ReadOp(in i, 0, IrType.I16)); };
        t[(int)Mnemonic.Sldt] = static (tr, in i) => tr.StoreSelector(in i, CpuStateOffsets.LdtrSelector);
        t[(int)Mnemonic.Str] = static (tr, in i) => tr.StoreSelector(in i, CpuStateOffsets.TrSelector);
        t[(int)Mnemonic.Smsw] = static (tr, in i) => tr.WriteOp(in i, 0, tr.b.Resize(tr.b.LdState(CpuStateOffsets.Cr0, IrType.I64), TypeOf(in i, 0)));
        t[(int)Mnemonic.Lmsw] = static (tr, in i) => { if (tr.RequireCpl0()) tr.Lmsw(in i); };
        t[(int)Mnemonic.Clts] = static (tr, in i) =>
        {
            if (!tr.RequireCpl0())
            {
                return;
            }

            var cr0 = tr.b.LdState(CpuStateOffsets.Cr0, IrType.I64);
            tr.b.StState(CpuStateOffsets.Cr0, tr.b.And(cr0, I64(~8UL)));
        };
        t[(int)Mnemonic.Invlpg] = static (tr, in i) =>
        {
            if (!tr.RequireCpl0())
            {
                return;
            }

            tr.CallHelper(SystemHelpers.Invlpg, tr.EffectiveAddress(in i));

            // The mode is unchanged: go on through the lookup of the next instruction (compiled
            // code's jump-cache probe checks the fetch TLB it may just have emptied) rather than
            // leaving compiled code, as the kernel flushes pages in loops.
            tr.EndWithGotoIndirect(I64(tr.NextPc));
        };
        t[(int)Mnemonic.Wbinvd] = static (tr, in i) => tr.RequireCpl0();
        t[(int)Mnemonic.Invd] = static (tr, in i) => tr.RequireCpl0();
        t[(int)Mnemonic.Clflush] = static (tr, in i) => { };
        t[(int)Mnemonic.Clflushopt] = static (tr, in i) => { };
        t[(int)Mnemonic.Lfence] = static (tr, in i) => { };
        t[(int)Mnemonic.Sfence] = static (tr, in i) => { };
        t[(int)Mnemonic.Mfence] = static (tr, in i) => tr.b.Call(SystemHelpers.Barrier);
        foreach (var m in new[] { Mnemonic.Prefetchnta, Mnemonic.Prefetcht0, Mnemonic.Prefetcht1, Mnemonic.Prefetcht2, Mnemonic.Prefetchw })
        {
            t[(int)m] = static (tr, in i) => { };
        }

        t[(int)Mnemonic.In] = static (tr, in i) => tr.PortIn(in i);
        t[(int)Mnemonic.Out] = static (tr, in i) => tr.PortOut(in i);
        t[(int)Mnemonic.Insb] = static (tr, in i) => tr.StringIo(in i, output: false);
        t[(int)Mnemonic.Insw] = static (tr, in i) => tr.StringIo(in i, output: false);
        t[(int)Mnemonic.Insd] = static (tr, in i) => tr.StringIo(in i, output: false);
        t[(int)Mnemonic.Outsb] = static (tr, in i) => tr.StringIo(in i, output: true);
        t[(int)Mnemonic.Outsw] = static (tr, in i) => tr.StringIo(in i, output: true);
        t[(int)Mnemonic.Outsd] = static (tr, in i) => tr.StringIo(in i, output: true);
        t[(int)Mnemonic.Arpl] = static (tr, in i) => tr.Arpl(in i);
        t[(int)Mnemonic.Int] = static (tr, in i) => tr.SoftwareInterrupt((int)i.Immediate8);
        t[(int)Mnemonic.Int3] = static (tr, in i) => tr.SoftwareInterrupt(Vector.BP);
        t[(int)Mnemonic.Into] = static (tr, in i) =>
        {
            tr.b.ExitIf(tr.b.Xor(tr.Condition(ConditionCode.o), I8(1)), tr.NextPc);
            tr.SoftwareInterrupt(Vector.OF);
        };
        t[(int)Mnemonic.Iret] = static (tr, in i) => tr.Transfer(TransferHelpers.InterruptReturn, I64(2));
        t[(int)Mnemonic.Iretd] = static (tr, in i) => tr.Transfer(TransferHelpers.InterruptReturn, I64(4));
        t[(int)Mnemonic.Iretq] = static (tr, in i) => tr.Transfer(TransferHelpers.InterruptReturn, I64(8));
        t[(int)Mnemonic.Syscall] = static (tr, in i) => tr.Transfer(TransferHelpers.Syscall, I64(tr.NextPc));
        t[(int)Mnemonic.Sysret] = static (tr, in i) => { if (tr.RequireCpl0()) tr.Transfer(TransferHelpers.Sysret, I64(0)); };
        t[(int)Mnemonic.Sysretq] = static (tr, in i) => { if (tr.RequireCpl0()) tr.Transfer(TransferHelpers.Sysret, I64(1)); };
        t[(int)Mnemonic.Sysenter] = static (tr, in i) => tr.Transfer(TransferHelpers.Sysenter);
        t[(int)Mnemonic.Sysexit] = static (tr, in i) => { if (tr.RequireCpl0()) tr.Transfer(TransferHelpers.Sysexit, I64(0)); };
        t[(int)Mnemonic.Sysexitq] = static (tr, in i) => { if (tr.RequireCpl0()) tr.Transfer(TransferHelpers.Sysexit, I64(1)); };
        t[(int)Mnemonic.Swapgs] = static (tr, in i) => { if (tr.RequireCpl0()) tr.CallHelper(TransferHelpers.Swapgs); };
        t[(int)Mnemonic.Verr] = static (tr, in i) => tr.SegmentCheck(in i, SegmentCheckHelpers.Verify, I64(0), writes: false);
        t[(int)Mnemonic.Verw] = static (tr, in i) => tr.SegmentCheck(in i, SegmentCheckHelpers.Verify, I64(1), writes: false);
        t[(int)Mnemonic.Lar] = static (tr, in i) => tr.SegmentCheck(in i, SegmentCheckHelpers.Lar, I64(0), writes: true);
        t[(int)Mnemonic.Lsl] = static (tr, in i) => tr.SegmentCheck(in i, SegmentCheckHelpers.Lsl, I64(0), writes: true);
        t[(int)Mnemonic.Lds] = static (tr, in i) => tr.LoadFarPointer(in i, Seg.Ds);
        t[(int)Mnemonic.Les] = static (tr, in i) => tr.LoadFarPointer(in i, Seg.Es);
        t[(int)Mnemonic.Lfs] = static (tr, in i) => tr.LoadFarPointer(in i, Seg.Fs);
        t[(int)Mnemonic.Lgs] = static (tr, in i) => tr.LoadFarPointer(in i, Seg.Gs);
        t[(int)Mnemonic.Lss] = static (tr, in i) => tr.LoadFarPointer(in i, Seg.Ss);
    }

    /// <summary>Set by STI: the block ends after the next instruction (the interrupt shadow).</summary>
    private bool endAfterNext;

    /// <summary>True at CPL 0; anywhere else the instruction raises #GP(0) and this returns false.</summary>
    private bool RequireCpl0()
    {
        if (Mode.Cpl != 0)
        {
            Raise(Vector.GP, 0);
            return false;
        }

        return true;
    }

    /// <summary>Calls a state-changing helper; the flags the translator remembered may be stale afterwards.</summary>
    private Operand CallHelper(HelperInfo helper, params ReadOnlySpan<Operand> args)
    {
        var r = b.Call(helper, args);
        if (helper.Effects.HasFlag(OpFlags.WritesState))
        {
            ResetFlagKnowledge();
        }

        return r;
    }

    /// <summary>A helper that sets RIP (far transfer, IRET, system call): the block continues wherever the state says.</summary>
    private void Transfer(HelperInfo helper, params ReadOnlySpan<Operand> args)
    {
        CallHelper(helper, args);
        EndWithGotoIndirect(b.LdState(CpuStateOffsets.Rip, IrType.I64));
    }

    /// <summary>MOV to or from a control or debug register (routed here from MOV).</summary>
    private void MoveSystemRegister(in Instruction insn)
    {
        if (Mode.Cpl != 0)
        {
            Raise(Vector.GP, 0);
            return;
        }

        if (insn.Op0Register.IsCR())
        {
            int n = insn.Op0Register - Register.CR0;
            CallHelper(SystemHelpers.MovToCr, I64((ulong)n), b.ZExt(ReadReg(insn.Op1Register), IrType.I64));
            EndWithExit();
        }
        else if (insn.Op1Register.IsCR())
        {
            int n = insn.Op1Register - Register.CR0;
            var v = CallHelper(SystemHelpers.MovFromCr, I64((ulong)n));
            WriteReg(insn.Op0Register, b.Resize(v, T(insn.Op0Register.GetSize())));
        }
        else if (insn.Op0Register.IsDR())
        {
            int n = insn.Op0Register - Register.DR0;
            b.StState(CpuStateOffsets.DrOffset(n), b.ZExt(ReadReg(insn.Op1Register), IrType.I64));
        }
        else
        {
            int n = insn.Op1Register - Register.DR0;
            WriteReg(insn.Op0Register, b.Resize(b.LdState(CpuStateOffsets.DrOffset(n), IrType.I64), T(insn.Op0Register.GetSize())));
        }
    }

    private void TableRegister(in Instruction insn, int which, bool load)
    {
        if (load && Mode.Cpl != 0)
        {
            Raise(Vector.GP, 0);
            return;
        }

        var addr = EffectiveAddress(in insn);
        var wide = I64(Mode.Is64 ? 1UL : 0);
        if (load)
        {
            CallHelper(SystemHelpers.LoadTableReg, I64((ulong)which), addr, wide);
        }
        else
        {
            CallHelper(SystemHelpers.StoreTableReg, I64((ulong)which), addr, wide);
            stored = true;
        }
    }

    private void StoreSelector(in Instruction insn, int offset)
    {
        var sel = b.LdState(offset, IrType.I16);
        WriteOp(in insn, 0, insn.Op0Kind == OpKind.Memory ? sel : b.ZExt(sel, TypeOf(in insn, 0)));
    }

    /// <summary>LMSW: loads CR0 bits 0-3 (PE, MP, EM, TS); it can set PE but never clear it.</summary>
    private void Lmsw(in Instruction insn)
    {
        var v = b.ZExt(ReadOp(in insn, 0, IrType.I16), IrType.I64);
        var cr0 = b.LdState(CpuStateOffsets.Cr0, IrType.I64);
        var merged = b.Or(b.And(cr0, I64(~0xeUL)), b.And(v, I64(0xf)));
        CallHelper(SystemHelpers.MovToCr, I64(0), merged);
        EndWithExit();
    }

    private void PortIn(in Instruction insn)
    {
        int size = insn.Op0Register.GetSize();
        var port = insn.Op1Kind == OpKind.Register ? b.ZExt(ReadReg(Register.DX), IrType.I64) : I64(insn.Immediate8);
        var v = CallHelper(SystemHelpers.In, port, I64((ulong)size));
        WriteReg(insn.Op0Register, b.Trunc(v, T(size)));
    }

    private void PortOut(in Instruction insn)
    {
        int size = insn.Op1Register.GetSize();
        var port = insn.Op0Kind == OpKind.Register ? b.ZExt(ReadReg(Register.DX), IrType.I64) : I64(insn.Immediate8);
        CallHelper(SystemHelpers.Out, port, I64((ulong)size), ReadReg(insn.Op1Register));
    }

    /// <summary>
    /// INS/OUTS with or without REP (SDM Vol. 2B INS, OUTS): one helper does the I/O permission
    /// check (#GP(0) at CPL &gt; IOPL without the TSS bitmap's leave, before anything moves) and
    /// the loop, with rDI/rSI/rCX stored as for the other REP helpers. The block ends after it:
    /// a port write may change what the machine does next, and INS may overwrite code.
    /// </summary>
    private void StringIo(in Instruction insn, bool output)
    {
        int size = insn.MemorySize.GetSize();
        int asz = StringAddressSize(in insn);
        bool rep = insn.HasRepPrefix || insn.HasRepnePrefix;
        ulong desc = StringHelpers.Describe(size, asz, Mode.Is64, repNe: false) | (rep ? StringHelpers.IoRepeat : 0) | (output ? StringHelpers.IoOut : 0);
        var segBase = output ? Linear(insn.MemorySegment, I64(0)) : Linear(Register.ES, I64(0));
        var stopped = CallHelper(StringHelpers.StringIo, I64(desc), segBase);
        b.RetryIf(stopped);
        if (!output)
        {
            b.SmcCheck(NextPc);
        }

        EndWithGoto(NextPc);
    }

    /// <summary>
    /// ARPL r/m16, r16 (SDM Vol. 2A ARPL; opcode 63 is MOVSXD only in 64-bit mode): when the
    /// destination selector's RPL is below the source's it is raised to it and ZF = 1, else
    /// ZF = 0; the other flags stay. A memory destination is written back either way, as a
    /// read-modify-write. Not recognised in real-address mode (#UD).
    /// </summary>
    private void Arpl(in Instruction insn)
    {
        if (Mode.IsReal)
        {
            RaiseUd();
            return;
        }

        // With a 32-bit operand size and a register destination (Iced's Arpl_r32m16_r32) the
        // operands are 32-bit registers: only the RPL bits change, the rest is kept.
        var dst = LocOf(in insn, 0);
        var d = Read(dst);
        var t = d.Type;
        var src = ReadReg(insn.Op1Register);
        var srcRpl = b.And(b.Resize(src, t), Const(3, t));
        var raise = b.SetCond(IrCond.LtU, b.And(d, Const(3, t)), srcRpl);
        var flags = ArithFlags();
        Write(dst, b.Select(raise, b.Or(b.And(d, Const(t == IrType.I16 ? 0xfffcUL : 0xffff_fffcUL, t)), srcRpl), d));
        SetZeroFlag(flags, raise);
    }

    private void SoftwareInterrupt(int vector)
    {
        CallHelper(SystemHelpers.SoftwareInterrupt, I64((ulong)vector), I64(NextPc));
        EndWithGoto(NextPc); // not reached: the helper always raises
    }

    /// <summary>
    /// VERR/VERW/LAR/LSL: only ZF changes (set when the check passes); LAR and LSL write their
    /// destination only then. The helper answers ZF in bit 63 and the value below it.
    /// </summary>
    private void SegmentCheck(in Instruction insn, HelperInfo helper, Operand extra, bool writes)
    {
        var selector = b.ZExt(ReadOp(in insn, writes ? 1 : 0, IrType.I16), IrType.I64);
        var r = helper.Args == 2 ? CallHelper(helper, selector, extra) : CallHelper(helper, selector);
        var zf = b.Shr(r, I64(63));
        var flags = b.And(ArithFlags(), I64(~(ulong)RFlags.ZF));
        if (writes)
        {
            var t = TypeOf(in insn, 0);
            var old = ReadReg(insn.Op0Register);
            var value = b.Trunc(b.And(r, I64(0xffff_ffff)), t.Bits() > 32 ? IrType.I32 : t);
            WriteReg(insn.Op0Register, b.Select(b.Trunc(zf, IrType.I8), b.ZExt(value, t), old));
        }

        SetFlagsMaterialized(b.Or(flags, b.Shl(zf, I64(6))));
    }

    /// <summary>MOV Sreg, r/m16 (routed from MOV).</summary>
    private void MoveToSegment(in Instruction insn)
    {
        var seg = (Seg)(insn.Op0Register - Register.ES);
        if (seg == Seg.Cs)
        {
            RaiseUd();
            return;
        }

        CallHelper(SystemHelpers.LoadSegment, I64((ulong)seg), ReadOp(in insn, 1, IrType.I16));
        if (seg == Seg.Ss)
        {
            endAfterNext = true; // MOV SS also blocks interrupts for one instruction
        }

        EndWithExit(); // the segment base or stack size may have changed the mode
    }

    /// <summary>POP Sreg: the descriptor is loaded before RSP moves, so a fault leaves RSP alone.</summary>
    private void PopSegment(in Instruction insn)
    {
        var seg = (Seg)(insn.Op0Register - Register.ES);
        var t = StackOpType(in insn);
        int asz = StackAddressSize;
        var rsp = Gpr64((int)Gpr.Rsp);
        var sp = WrapTo(rsp, asz);
        var v = LoadMem(Linear(Register.SS, sp), t);
        CallHelper(SystemHelpers.LoadSegment, I64((ulong)seg), b.Trunc(v, IrType.I16));
        var newSp = b.Add(sp, I64((ulong)t.Bytes()));
        SetStackPointer(WrapTo(newSp, asz), asz);
        if (seg == Seg.Ss)
        {
            endAfterNext = true;
        }

        EndWithExit();
    }

    /// <summary>LDS/LES/LFS/LGS/LSS r, m16:16/32/64: offset first, selector after it.</summary>
    private void LoadFarPointer(in Instruction insn, Seg seg)
    {
        var t = TypeOf(in insn, 0);
        var addr = EffectiveAddress(in insn);
        var offset = LoadMem(addr, t);
        var selector = LoadMem(b.Add(addr, I64((ulong)t.Bytes())), IrType.I16);
        CallHelper(SystemHelpers.LoadSegment, I64((ulong)seg), selector);
        WriteReg(insn.Op0Register, offset);
        EndWithExit();
    }

    /// <summary>JMP/CALL far (direct ptr16:16/32 or indirect m16:16/32/64), routed from JMP and CALL.</summary>
    private void FarTransfer(in Instruction insn, bool call)
    {
        Operand selector, offset;
        int size;
        if (insn.Op0Kind is OpKind.FarBranch16 or OpKind.FarBranch32)
        {
            selector = I64(insn.FarBranchSelector);
            offset = I64(insn.Op0Kind == OpKind.FarBranch16 ? insn.FarBranch16 : insn.FarBranch32);
            size = insn.Op0Kind == OpKind.FarBranch16 ? 2 : 4;
        }
        else
        {
            // m16:16, m16:32 or m16:64: the offset, then the selector.
            size = insn.MemorySize switch { MemorySize.SegPtr16 => 2, MemorySize.SegPtr32 => 4, _ => 8 };
            var addr = EffectiveAddress(in insn);
            offset = b.ZExt(LoadMem(addr, T(size)), IrType.I64);
            selector = b.ZExt(LoadMem(b.Add(addr, I64((ulong)size)), IrType.I16), IrType.I64);
        }

        if (call)
        {
            Transfer(TransferHelpers.FarCall, selector, offset, I64(NextPc), I64((ulong)size));
        }
        else
        {
            Transfer(TransferHelpers.FarJump, selector, offset);
        }
    }

    /// <summary>RET far [imm16], routed from RET.</summary>
    private void FarReturn(in Instruction insn)
    {
        int size = insn.Code switch
        {
            Code.Retfw or Code.Retfw_imm16 => 2,
            Code.Retfd or Code.Retfd_imm16 => 4,
            _ => 8,
        };
        ulong release = insn.Op0Kind == OpKind.Immediate16 ? insn.Immediate16 : 0UL;
        Transfer(TransferHelpers.FarReturn, I64((ulong)size), I64(release));
    }

    private void HltInstruction()
    {
        if (Mode.Cpl != 0)
        {
            Raise(Vector.GP, 0);
            return;
        }

        Hlt();
    }
}

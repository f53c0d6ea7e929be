using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Exchange and atomics: XCHG CMPXCHG XADD CMPXCHG8B CMPXCHG16B (SDM Vol. 2). A memory XCHG
/// is always locked; CMPXCHG/CMPXCHG8B/CMPXCHG16B on memory always use a host compare-and-swap
/// (it also performs the write cycle on a mismatch: write permission is checked either way);
/// XADD is atomic with LOCK. Also registers the stack extras of EmitStackExtra.cs.
/// </summary>
public sealed partial class Translator
{
    static partial void RegisterAtomic(Emitter?[] t)
    {
        t[(int)Mnemonic.Xchg] = static (tr, in i) => tr.Xchg(in i);
        t[(int)Mnemonic.Cmpxchg] = static (tr, in i) => tr.Cmpxchg(in i);
        t[(int)Mnemonic.Xadd] = static (tr, in i) => tr.Xadd(in i);
        t[(int)Mnemonic.Cmpxchg8b] = static (tr, in i) => tr.Cmpxchg8b(in i);
        t[(int)Mnemonic.Cmpxchg16b] = static (tr, in i) => tr.Cmpxchg16b(in i);
        RegisterStackExtra(t);
    }

    private void Xchg(in Instruction insn)
    {
        if (insn.Op0Kind == OpKind.Memory || insn.Op1Kind == OpKind.Memory)
        {
            // XCHG with memory asserts LOCK whether or not the prefix is there (SDM Vol. 2D XCHG).
            int mem = insn.Op0Kind == OpKind.Memory ? 0 : 1;
            var reg = insn.GetOpRegister(1 - mem);
            var old = b.AtomicRmw(AtomicOp.Xchg, EffectiveAddress(in insn), ReadReg(reg));
            stored = true;
            WriteReg(reg, old);
            return;
        }

        // Register swap; XCHG of a 32-bit register with itself still zero-extends it (87 C0;
        // the 90 encoding decodes as NOP).
        var r0 = insn.Op0Register;
        var r1 = insn.Op1Register;
        var a = ReadReg(r0);
        var c = ReadReg(r1);
        WriteReg(r0, c);
        WriteReg(r1, a);
    }

    /// <summary>
    /// CMPXCHG r/m, r: compares the accumulator with the destination; equal: ZF = 1 and the
    /// destination gets the source; else ZF = 0 and the accumulator gets the destination. Flags
    /// as CMP accumulator, destination. A register destination is written either way (with its
    /// own value on a mismatch, except a 32-bit one, whose upper half then stays), and the
    /// accumulator only on a mismatch, so a successful 32-bit CMPXCHG keeps the upper half of
    /// RAX as hardware does.
    /// </summary>
    private void Cmpxchg(in Instruction insn)
    {
        var dst = LocOf(in insn, 0);
        var t = dst.Type;
        var accReg = AccumulatorOf(t.Bytes());
        var src = ReadReg(insn.Op1Register);
        var acc = ReadReg(accReg);
        Operand old;
        Operand equal;
        if (dst.IsMemory)
        {
            old = b.AtomicCas(dst.Address, acc, src);
            stored = true;
            equal = b.SetCond(IrCond.Eq, old, acc);
        }
        else
        {
            old = ReadReg(dst.Register);
            equal = b.SetCond(IrCond.Eq, old, acc);
            if (t == IrType.I32)
            {
                // A 32-bit register destination is written (zero-extended) only on a match; on a
                // mismatch its upper half stays, as on hardware (QEMU's cmpxchg test checks it).
                int n = GprNumber(dst.Register);
                SetGpr64(n, b.Select(equal, b.ZExt(src, IrType.I64), Gpr64(n)));
            }
            else
            {
                WriteReg(dst.Register, b.Select(equal, src, old));
            }
        }

        if (t == IrType.I32)
        {
            // EAX is written (zero-extending RAX) only when the compare failed.
            var rax = Gpr64((int)Gpr.Rax);
            SetGpr64((int)Gpr.Rax, b.Select(equal, rax, b.ZExt(old, IrType.I64)));
        }
        else
        {
            // Re-read: a register destination may be the accumulator itself.
            var now = ReadReg(accReg);
            WriteReg(accReg, b.Select(equal, now, old));
        }

        SetCc(CcKind.Sub, b.Sub(acc, old), acc, old);
    }

    /// <summary>XADD r/m, r: the destination gets the sum, the source register the old destination. Flags as ADD.</summary>
    private void Xadd(in Instruction insn)
    {
        var dst = LocOf(in insn, 0);
        var srcReg = insn.Op1Register;
        var src = ReadReg(srcReg);
        Operand old;
        if (dst.IsMemory && insn.HasLockPrefix)
        {
            old = b.AtomicRmw(AtomicOp.Add, dst.Address, src);
            stored = true;
        }
        else
        {
            old = Read(dst);
        }

        var sum = b.Add(old, src);
        if (dst.IsMemory)
        {
            // Memory first, so a faulting store leaves the register unchanged.
            if (!insn.HasLockPrefix)
            {
                Write(dst, sum);
            }

            WriteReg(srcReg, old);
        }
        else
        {
            // SDM order: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP. With the same register twice the sum wins.
            WriteReg(srcReg, old);
            WriteReg(dst.Register, sum);
        }

        SetCc(CcKind.Add, sum, old, src);
    }

    /// <summary>
    /// CMPXCHG8B m64: compares EDX:EAX with m64; equal: ZF = 1, m64 = ECX:EBX; else ZF = 0,
    /// EDX:EAX = m64 (each half a 32-bit register write). A 64-bit host CAS; only ZF changes.
    /// </summary>
    private void Cmpxchg8b(in Instruction insn)
    {
        var addr = EffectiveAddress(in insn);
        var flags = ArithFlags();
        var rax = Gpr64((int)Gpr.Rax);
        var rdx = Gpr64((int)Gpr.Rdx);
        var expected = b.Or(b.Shl(rdx, I64(32)), b.And(rax, I64(0xffff_ffff)));
        var replacement = b.Or(b.Shl(Gpr64((int)Gpr.Rcx), I64(32)), b.And(Gpr64((int)Gpr.Rbx), I64(0xffff_ffff)));
        var old = b.AtomicCas(addr, expected, replacement);
        stored = true;
        var equal = b.SetCond(IrCond.Eq, old, expected, IrType.I64);
        SetGpr64((int)Gpr.Rax, b.Select(equal, rax, b.And(old, I64(0xffff_ffff))));
        SetGpr64((int)Gpr.Rdx, b.Select(equal, rdx, b.Shr(old, I64(32))));
        SetZeroFlag(flags, equal);
    }

    /// <summary>CMPXCHG16B m128 (64-bit mode): as CMPXCHG8B with RDX:RAX and RCX:RBX; #GP(0) unless 16-byte aligned. A helper.</summary>
    private void Cmpxchg16b(in Instruction insn)
    {
        var addr = EffectiveAddress(in insn);
        var flags = ArithFlags();
        var zf = b.Call(AtomicHelpers.Cmpxchg16b, addr);
        stored = true;
        SetZeroFlag(flags, zf);
    }

    /// <summary>Materialises the flags with ZF replaced by <paramref name="zf"/> (0 or 1) and the others kept.</summary>
    private void SetZeroFlag(Operand flags, Operand zf)
    {
        var rest = b.And(flags, I64(~(ulong)RFlags.ZF));
        SetFlagsMaterialized(b.Or(rest, b.Shl(b.ZExt(zf, IrType.I64), I64(6))));
    }
}

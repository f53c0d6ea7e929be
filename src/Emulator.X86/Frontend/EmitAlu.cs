using Emulator.Ir;
using Emulator.X86.Flags;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>Integer arithmetic and logic: ADD ADC SUB SBB CMP AND OR XOR TEST INC DEC NEG NOT (SDM Vol. 2).</summary>
public sealed partial class Translator
{
    static partial void RegisterAlu(Emitter?[] t)
    {
        t[(int)Mnemonic.Add] = static (tr, in i) => tr.Arith(in i, CcKind.Add);
        t[(int)Mnemonic.Adc] = static (tr, in i) => tr.Arith(in i, CcKind.Adc);
        t[(int)Mnemonic.Sub] = static (tr, in i) => tr.Arith(in i, CcKind.Sub);
        t[(int)Mnemonic.Sbb] = static (tr, in i) => tr.Arith(in i, CcKind.Sbb);
        t[(int)Mnemonic.Cmp] = static (tr, in i) => tr.Arith(in i, CcKind.Sub, writeBack: false);
        t[(int)Mnemonic.And] = static (tr, in i) => tr.Logic(in i, IrOpcode.And);
        t[(int)Mnemonic.Or] = static (tr, in i) => tr.Logic(in i, IrOpcode.Or);
        t[(int)Mnemonic.Xor] = static (tr, in i) => tr.Logic(in i, IrOpcode.Xor);
        t[(int)Mnemonic.Test] = static (tr, in i) => tr.Logic(in i, IrOpcode.And, writeBack: false);
        t[(int)Mnemonic.Inc] = static (tr, in i) => tr.IncDec(in i, CcKind.Inc);
        t[(int)Mnemonic.Dec] = static (tr, in i) => tr.IncDec(in i, CcKind.Dec);
        t[(int)Mnemonic.Neg] = static (tr, in i) => tr.Neg(in i);
        t[(int)Mnemonic.Not] = static (tr, in i) => tr.Not(in i);
    }

    /// <summary>True when the instruction has a LOCK prefix and a memory destination: it must be atomic.</summary>
    private static bool IsLocked(in Instruction insn) => insn.HasLockPrefix && insn.Op0Kind == OpKind.Memory;

    private void Arith(in Instruction insn, CcKind kind, bool writeBack = true)
    {
        var dst = LocOf(in insn, 0);
        var src = ReadOp(in insn, 1, dst.Type);
        Operand carry = default;
        if (kind is CcKind.Adc or CcKind.Sbb)
        {
            carry = b.ZExt(CarryFlag(), dst.Type);
        }

        if (writeBack && IsLocked(in insn))
        {
            LockedArith(dst, src, kind, carry);
            return;
        }

        var a = Read(dst);
        Operand r = kind switch
        {
            CcKind.Add => b.Add(a, src),
            CcKind.Adc => b.Add(b.Add(a, src), carry),
            CcKind.Sub => b.Sub(a, src),
            _ => b.Sub(b.Sub(a, src), carry),
        };
        if (writeBack)
        {
            Write(dst, r);
        }

        SetCc(kind, r, a, src);
    }

    /// <summary>LOCK ADD/ADC/SUB/SBB: one host atomic add (SUB adds the negation); flags from the old value.</summary>
    private void LockedArith(Loc dst, Operand src, CcKind kind, Operand carry)
    {
        Operand addend = kind switch
        {
            CcKind.Add => src,
            CcKind.Adc => b.Add(src, carry),
            CcKind.Sub => b.Neg(src),
            _ => b.Neg(b.Add(src, carry)),
        };
        var old = b.AtomicRmw(AtomicOp.Add, dst.Address, addend);
        stored = true;
        var r = b.Add(old, addend);
        SetCc(kind, r, old, src);
    }

    private void Logic(in Instruction insn, IrOpcode op, bool writeBack = true)
    {
        var dst = LocOf(in insn, 0);
        var src = ReadOp(in insn, 1, dst.Type);
        Operand r;
        if (writeBack && IsLocked(in insn))
        {
            var atomic = op switch { IrOpcode.And => AtomicOp.And, IrOpcode.Or => AtomicOp.Or, _ => AtomicOp.Xor };
            var old = b.AtomicRmw(atomic, dst.Address, src);
            stored = true;
            r = op switch { IrOpcode.And => b.And(old, src), IrOpcode.Or => b.Or(old, src), _ => b.Xor(old, src) };
        }
        else
        {
            // XOR r, r (and SUB r, r) is the common zeroing idiom: no read of the old value is needed.
            bool zeroIdiom = op == IrOpcode.Xor && !dst.IsMemory && insn.Op1Kind == OpKind.Register && insn.Op0Register == insn.Op1Register;
            var a = zeroIdiom ? Const(0, dst.Type) : Read(dst);
            r = zeroIdiom ? Const(0, dst.Type) : op switch { IrOpcode.And => b.And(a, src), IrOpcode.Or => b.Or(a, src), _ => b.Xor(a, src) };
            if (writeBack)
            {
                Write(dst, r);
            }
        }

        SetCc(CcKind.Logic, r, r, Const(0, r.Type));
    }

    private void IncDec(in Instruction insn, CcKind kind)
    {
        var dst = LocOf(in insn, 0);
        var one = Const(1, dst.Type);
        var cf = b.ZExt(CarryFlag(), dst.Type);
        Operand a, r;
        if (IsLocked(in insn))
        {
            var addend = kind == CcKind.Inc ? one : Const(ulong.MaxValue, dst.Type);
            a = b.AtomicRmw(AtomicOp.Add, dst.Address, addend);
            stored = true;
            r = b.Add(a, addend);
        }
        else
        {
            a = Read(dst);
            r = kind == CcKind.Inc ? b.Add(a, one) : b.Sub(a, one);
            Write(dst, r);
        }

        SetCc(kind, r, a, cf);
    }

    private void Neg(in Instruction insn)
    {
        var dst = LocOf(in insn, 0);
        Operand a, r;
        if (IsLocked(in insn))
        {
            (a, r) = LockedUpdate(dst, static (bb, old) => bb.Neg(old));
        }
        else
        {
            a = Read(dst);
            r = b.Neg(a);
            Write(dst, r);
        }

        SetCc(CcKind.Sub, r, Const(0, dst.Type), a);
    }

    private void Not(in Instruction insn)
    {
        var dst = LocOf(in insn, 0);
        if (IsLocked(in insn))
        {
            b.AtomicRmw(AtomicOp.Xor, dst.Address, Const(ulong.MaxValue, dst.Type));
            stored = true;
            return;
        }

        Write(dst, b.Not(Read(dst)));
    }

    /// <summary>
    /// A locked read-modify-write that has no single atomic IR op: read, compute, then
    /// compare-and-swap, retrying from the top of the instruction if memory changed
    /// meanwhile (the block exits to this same instruction, which runs again). Returns
    /// (old value, new value).
    /// </summary>
    private (Operand Old, Operand New) LockedUpdate(Loc dst, Func<IrBuilder, Operand, Operand> update)
    {
        var old = LoadMem(dst.Address, dst.Type);
        var r = update(b, old);
        var seen = b.AtomicCas(dst.Address, old, r);
        stored = true;
        b.RetryIf(b.SetCond(IrCond.Ne, seen, old));
        return (old, r);
    }
}

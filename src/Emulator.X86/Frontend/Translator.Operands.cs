using Emulator.Ir;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;
using IcedRegister = Iced.Intel.Register;

namespace Emulator.X86.Frontend;

/// <summary>Where an operand lives: a register, or memory at a linear address computed once.</summary>
public readonly record struct Loc(bool IsMemory, IcedRegister Register, Operand Address, IrType Type);

/// <summary>Operand access: registers with x86's partial-register rules, effective addresses, segments, memory.</summary>
public sealed partial class Translator
{
    /// <summary>The IR type of an integer of <paramref name="bytes"/> bytes.</summary>
    private static IrType T(int bytes) => IrTypes.FromBytes(bytes);

    /// <summary>Operand <paramref name="n"/>'s size in bytes (register, memory or immediate).</summary>
    private static int SizeOf(in Instruction insn, int n)
    {
        switch (insn.GetOpKind(n))
        {
            case OpKind.Register:
                return insn.GetOpRegister(n).GetSize();
            case OpKind.Memory:
                return insn.MemorySize.GetSize();
            case OpKind.Immediate8:
                return 1;
            case OpKind.Immediate16 or OpKind.Immediate8to16:
                return 2;
            case OpKind.Immediate32 or OpKind.Immediate8to32:
                return 4;
            case OpKind.Immediate64 or OpKind.Immediate8to64 or OpKind.Immediate32to64:
                return 8;
            default:
                return n > 0 ? SizeOf(in insn, 0) : 8;
        }
    }

    /// <summary>The IR type of operand <paramref name="n"/>.</summary>
    private static IrType TypeOf(in Instruction insn, int n) => T(SizeOf(in insn, n));

    /// <summary>Resolves operand <paramref name="n"/> to a location (computing a memory address once).</summary>
    private Loc LocOf(in Instruction insn, int n)
    {
        var kind = insn.GetOpKind(n);
        if (kind == OpKind.Register)
        {
            var r = insn.GetOpRegister(n);
            return new Loc(false, r, default, T(r.GetSize()));
        }

        if (kind == OpKind.Memory)
        {
            return new Loc(true, IcedRegister.None, EffectiveAddress(in insn), T(insn.MemorySize.GetSize()));
        }

        throw new InvalidOperationException($"operand {n} of {insn} is {kind}, not a location");
    }

    private Operand Read(Loc l) => l.IsMemory ? LoadMem(l.Address, l.Type) : ReadReg(l.Register);

    private void Write(Loc l, Operand v)
    {
        if (l.IsMemory)
        {
            StoreMem(l.Address, b.Resize(v, l.Type));
        }
        else
        {
            WriteReg(l.Register, b.Resize(v, l.Type));
        }
    }

    /// <summary>Reads operand <paramref name="n"/> as <paramref name="type"/> (immediates are sign-extended then truncated, as encoded).</summary>
    private Operand ReadOp(in Instruction insn, int n, IrType? type = null)
    {
        var kind = insn.GetOpKind(n);
        switch (kind)
        {
            case OpKind.Register:
            {
                var v = ReadReg(insn.GetOpRegister(n));
                return type is { } t ? b.Resize(v, t) : v;
            }

            case OpKind.Memory:
                return LoadMem(EffectiveAddress(in insn), type ?? TypeOf(in insn, n));
            case OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32 or OpKind.Immediate64
                or OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64:
                return Const(insn.GetImmediate(n), type ?? TypeOf(in insn, n));
            case OpKind.Immediate8_2nd:
                return Const(insn.Immediate8_2nd, type ?? IrType.I8);
            default:
                throw new InvalidOperationException($"operand {n} of {insn} is {kind}, not readable");
        }
    }

    private void WriteOp(in Instruction insn, int n, Operand v) => Write(LocOf(in insn, n), v);

    /// <summary>Number (0-15) of a general-purpose register of any size; AH-BH give 0-3.</summary>
    private static int GprNumber(IcedRegister r) => (int)(r.GetFullRegister() - IcedRegister.RAX);

    private static bool IsHighByte(IcedRegister r) => r is IcedRegister.AH or IcedRegister.CH or IcedRegister.DH or IcedRegister.BH;

    /// <summary>The full 64-bit register.</summary>
    private Operand Gpr64(int n) => b.LdState(CpuStateOffsets.GprOffset(n), IrType.I64);

    private void SetGpr64(int n, Operand v) => b.StState(CpuStateOffsets.GprOffset(n), v);

    private Operand ReadReg(IcedRegister r)
    {
        if (r.IsGPR())
        {
            var full = Gpr64(GprNumber(r));
            if (IsHighByte(r))
            {
                return b.Trunc(b.Shr(full, I64(8)), IrType.I8);
            }

            return b.Trunc(full, T(r.GetSize()));
        }

        if (r.IsSegmentRegister())
        {
            return b.LdState(CpuStateOffsets.SegSelector((Seg)(r - IcedRegister.ES)), IrType.I16);
        }

        throw new InvalidOperationException($"register {r} is not an integer register");
    }

    /// <summary>
    /// Writes a general-purpose register with x86's rules: a 32-bit write zero-extends to 64
    /// bits; 8- and 16-bit writes keep the other bits (SDM Vol. 1 3.4.1.1).
    /// </summary>
    private void WriteReg(IcedRegister r, Operand v)
    {
        if (!r.IsGPR())
        {
            throw new InvalidOperationException($"register {r} is not a general-purpose register");
        }

        int n = GprNumber(r);
        switch (r.GetSize())
        {
            case 8:
                SetGpr64(n, v);
                break;
            case 4:
                SetGpr64(n, b.ZExt(v, IrType.I64));
                break;
            default:
            {
                int shift = IsHighByte(r) ? 8 : 0;
                ulong mask = (v.Type.Mask()) << shift;
                var old = b.And(Gpr64(n), I64(~mask));
                var part = b.Shl(b.ZExt(v, IrType.I64), I64((ulong)shift));
                SetGpr64(n, b.Or(old, part));
                break;
            }
        }
    }

    /// <summary>Address size of the instruction's memory operand, in bytes (2, 4 or 8).</summary>
    private int AddressSize(in Instruction insn)
    {
        if (insn.MemoryBase != IcedRegister.None && insn.MemoryBase is not (IcedRegister.RIP or IcedRegister.EIP))
        {
            return insn.MemoryBase.GetSize();
        }

        if (insn.MemoryIndex != IcedRegister.None)
        {
            return insn.MemoryIndex.GetSize();
        }

        return insn.MemoryBase == IcedRegister.EIP ? 4 : insn.MemoryDisplSize is 2 or 4 or 8 ? insn.MemoryDisplSize : Mode.Bitness / 8;
    }

    /// <summary>
    /// The memory operand's offset: base + index * scale + disp (or the RIP-relative target),
    /// wrapped to the address size (SDM Vol. 1 3.7.5). LEA stores it; memory accesses add the segment.
    /// </summary>
    private Operand Offset(in Instruction insn)
    {
        if (insn.IsIPRelativeMemoryOperand)
        {
            return I64(insn.IPRelativeMemoryAddress);
        }

        var ea = I64(insn.MemoryDisplacement64);
        if (insn.MemoryBase != IcedRegister.None)
        {
            ea = b.Add(Gpr64(GprNumber(insn.MemoryBase)), ea);
        }

        if (insn.MemoryIndex != IcedRegister.None)
        {
            var index = Gpr64(GprNumber(insn.MemoryIndex));
            int scale = insn.MemoryIndexScale;
            ea = b.Add(ea, scale == 1 ? index : b.Shl(index, I64((ulong)System.Numerics.BitOperations.Log2((uint)scale))));
        }

        return WrapTo(ea, AddressSize(in insn));
    }

    /// <summary>
    /// The linear address of the memory operand: segment base + offset (SDM Vol. 3A 3.4.4). In
    /// 64-bit mode only FS and GS have bases; outside it the linear address wraps at 4 GiB.
    /// </summary>
    private Operand EffectiveAddress(in Instruction insn) => Linear(insn.MemorySegment, Offset(in insn));

    /// <summary>Truncates an I64 address to 2, 4 or 8 bytes (16-, 32- or 64-bit addressing).</summary>
    private Operand WrapTo(Operand address, int bytes) =>
        bytes >= 8 ? address : b.And(address, I64(bytes == 2 ? 0xffffUL : 0xffff_ffffUL));

    /// <summary>Adds the segment base to an offset (an I64) and wraps it as the mode requires.</summary>
    private Operand Linear(IcedRegister segment, Operand offset)
    {
        var seg = (Seg)(segment - IcedRegister.ES);
        if (Mode.Is64)
        {
            return seg is Seg.Fs or Seg.Gs ? b.Add(b.LdState(CpuStateOffsets.SegBase(seg), IrType.I64), offset) : offset;
        }

        if (Mode.FlatDataSegments && seg is Seg.Ds or Seg.Es or Seg.Ss)
        {
            return offset;
        }

        var lin = b.Add(b.LdState(CpuStateOffsets.SegBase(seg), IrType.I64), offset);
        return b.And(lin, I64(0xffff_ffff));
    }

    private Operand LoadMem(Operand linear, IrType t) => b.Load(linear, t);

    private void StoreMem(Operand linear, Operand v)
    {
        b.Store(linear, v);
        stored = true;
    }

    /// <summary>The stack pointer width: 8 in 64-bit mode, else 4 or 2 by SS.B.</summary>
    private int StackAddressSize => Mode.Is64 ? 8 : Mode.StackIs32 ? 4 : 2;

    /// <summary>Pushes <paramref name="v"/> (its type is the push size).</summary>
    private void Push(Operand v)
    {
        int asz = StackAddressSize;
        var rsp = Gpr64((int)Gpr.Rsp);
        var newSp = WrapTo(b.Sub(rsp, I64((ulong)v.Type.Bytes())), asz);

        StoreMem(Linear(IcedRegister.SS, newSp), v);
        SetStackPointer(newSp, asz);
    }

    /// <summary>Pops a value of type <paramref name="t"/>.</summary>
    private Operand Pop(IrType t)
    {
        int asz = StackAddressSize;
        var rsp = Gpr64((int)Gpr.Rsp);
        var sp = WrapTo(rsp, asz);
        var v = LoadMem(Linear(IcedRegister.SS, sp), t);
        var newSp = WrapTo(b.Add(sp, I64((ulong)t.Bytes())), asz);

        SetStackPointer(newSp, asz);
        return v;
    }

    /// <summary>Writes SP, ESP or RSP: a 16-bit stack keeps the upper bits of RSP.</summary>
    private void SetStackPointer(Operand value, int addressSize)
    {
        switch (addressSize)
        {
            case 8: SetGpr64((int)Gpr.Rsp, value); break;
            case 4: SetGpr64((int)Gpr.Rsp, value); break; // already zero-extended, as a 32-bit register write
            default: WriteReg(IcedRegister.SP, b.Trunc(value, IrType.I16)); break;
        }
    }

    /// <summary>Operand size in bytes for stack operations (push/pop of 16/32/64).</summary>
    private static IrType StackOpType(in Instruction insn) => T(insn.StackPointerIncrement < 0 ? -insn.StackPointerIncrement : insn.StackPointerIncrement);
}

using Emulator.Ir;
using Emulator.X86.Helpers;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;
using static Emulator.Ir.IrBuilder;

namespace Emulator.X86.Frontend;

/// <summary>
/// Operand plumbing for SSE and MMX instructions. Vector registers live in CPU state; most
/// vector operations are helpers that take state offsets (destination, source, immediate), as
/// QEMU's i386 SSE helpers take pointers into env. A memory source is first loaded into the
/// scratch XMM register (xmm_tmp) by IR loads, so helpers never touch guest memory and
/// faults stay precise.
/// </summary>
public sealed partial class Translator
{
    /// <summary>State offset of XMMn.</summary>
    private static int XmmOffset(Register r) => CpuStateOffsets.XmmOffset(r - Register.XMM0);

    /// <summary>State offset of MMn (the mantissa of x87 physical register n).</summary>
    private static int MmOffset(Register r) => CpuStateOffsets.FprOffset(r - Register.MM0);

    private static readonly int ScratchOffset = CpuStateOffsets.XmmOffset(CpuStateOffsets.XmmScratch);

    /// <summary>
    /// The state offset holding operand <paramref name="n"/>: its XMM/MM register, or the scratch
    /// register after loading <paramref name="bytes"/> (2, 4, 8 or 16) from memory, zero-filling the
    /// rest of the scratch. <paramref name="aligned"/> forms fault with #GP(0) when a 16-byte
    /// memory operand is not 16-byte aligned.
    /// </summary>
    private int VectorSource(in Instruction insn, int n, int bytes, bool aligned = false)
    {
        if (insn.GetOpKind(n) == OpKind.Register)
        {
            var r = insn.GetOpRegister(n);
            return r.IsMM() ? MmOffset(r) : XmmOffset(r);
        }

        var addr = EffectiveAddress(in insn);
        if (aligned && bytes == 16)
        {
            AlignmentCheck(addr);
        }

        LoadVector(addr, ScratchOffset, bytes);
        if (bytes < 16)
        {
            if (bytes == 2)
            {
                b.StState(ScratchOffset + 2, I16(0));
            }

            if (bytes <= 4)
            {
                b.StState(ScratchOffset + 4, I32(0));
            }

            b.StState(ScratchOffset + 8, I64(0));
        }

        return ScratchOffset;
    }

    /// <summary>#GP(0) when a 16-byte aligned operand's address is not (SDM Vol. 2, MOVDQA "Protected Mode Exceptions").</summary>
    private void AlignmentCheck(Operand addr) => b.FaultIf(b.And(addr, I64(15)), Vector.GP, I64(0));

    /// <summary>Copies <paramref name="bytes"/> (2, 4, 8 or 16) from guest memory into state at <paramref name="offset"/>.</summary>
    private void LoadVector(Operand addr, int offset, int bytes)
    {
        if (bytes is 2 or 4)
        {
            b.StState(offset, LoadMem(addr, T(bytes)));
            return;
        }

        // Load both halves before writing either, so a fault on the second leaves the register unchanged.
        var lo = LoadMem(addr, IrType.I64);
        if (bytes == 16)
        {
            var hi = LoadMem(b.Add(addr, I64(8)), IrType.I64);
            b.StState(offset + 8, hi);
        }

        b.StState(offset, lo);
    }

    /// <summary>Copies <paramref name="bytes"/> (4, 8 or 16) from state at <paramref name="offset"/> to guest memory.</summary>
    private void StoreVector(Operand addr, int offset, int bytes, bool aligned = false)
    {
        if (aligned && bytes == 16)
        {
            AlignmentCheck(addr);
        }

        if (bytes == 4)
        {
            StoreMem(addr, b.LdState(offset, IrType.I32));
            return;
        }

        if (bytes == 16)
        {
            var hi = b.LdState(offset + 8, IrType.I64);
            var lo = b.LdState(offset, IrType.I64);
            StoreMem(StraddlingQwordAddress(addr, lo, hi, out var straddle), straddle);
            StoreMem(addr, lo);
            StoreMem(b.Add(addr, I64(8)), hi);
            return;
        }

        StoreMem(addr, b.LdState(offset, IrType.I64));
    }

    /// <summary>
    /// x86 writes nothing of a store that faults (SDM Vol. 3A 4.7), but the IR stores at most 8
    /// bytes at a time, and only a store that itself crosses a page checks both pages before
    /// writing. So a 16-byte store first writes the 8 bytes of the value (lo, hi) that straddle
    /// the page boundary, at offset o = clamp(boundary - 7, 0, 8): when that succeeds both pages
    /// are writable and the two halves that follow cannot fault. With no boundary inside the
    /// value o is 8 and it writes the high half, which the halves write again with the same
    /// bytes (RAM cannot tell; an MMIO register sees its bytes twice). With no boundary inside
    /// the value o is 0: it writes the low half first, so a fault names the store's first byte in
    /// CR2, as the CPU does. Shift counts are split in two so that none reaches 64. Known
    /// difference: when the first page faults and the boundary is 8 or more bytes in, CR2 names
    /// byte o of the store (in the same page, with the same error code) rather than its first byte.
    /// </summary>
    private Operand StraddlingQwordAddress(Operand addr, Operand lo, Operand hi, out Operand value)
    {
        var toBoundary = b.Sub(I64(GuestMemory.PageSize), b.And(addr, I64(GuestMemory.PageMask)));
        var o = b.Select(b.SetCond(IrCond.LtU, toBoundary, I64(7)), I64(0), b.Sub(toBoundary, I64(7)));
        o = b.Select(b.SetCond(IrCond.GtU, o, I64(8)), I64(0), o); // past 8: no boundary inside, the low half
        var s = b.Shl(o, I64(3));
        var sHalf = b.Shr(s, I64(1));
        var d = b.Sub(I64(64), s);
        var dHalf = b.Shr(d, I64(1));
        var low = b.Shr(b.Shr(lo, sHalf), b.Sub(s, sHalf));
        var high = b.Shl(b.Shl(hi, dHalf), b.Sub(d, dHalf));
        value = b.Or(low, high);
        return b.Add(addr, o);
    }

    /// <summary>Copies a whole 16-byte register in state.</summary>
    private void CopyXmm(int to, int from)
    {
        var lo = b.LdState(from, IrType.I64);
        var hi = b.LdState(from + 8, IrType.I64);
        b.StState(to, lo);
        b.StState(to + 8, hi);
    }

    /// <summary>Calls a vector helper as helper(dst offset, src offset, imm, extra).</summary>
    private Operand VectorCall(HelperInfo helper, int dstOffset, int srcOffset, ulong imm = 0, ulong extra = 0)
    {
        var r = b.Call(helper, I64((ulong)dstOffset), I64((ulong)srcOffset), I64(imm), I64(extra));
        if (helper.Effects.HasFlag(OpFlags.WritesState))
        {
            ResetFlagKnowledge();
        }

        return r;
    }
}

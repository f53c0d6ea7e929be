using Emulator.Ir;
using Emulator.X86.Helpers;
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
    /// register after loading <paramref name="bytes"/> (4, 8 or 16) from memory, zero-filling the
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
            b.Call(MemoryHelpers.CheckAlign, addr, I64(15));
        }

        LoadVector(addr, ScratchOffset, bytes);
        if (bytes < 16)
        {
            if (bytes == 4)
            {
                b.StState(ScratchOffset + 4, I32(0));
            }

            b.StState(ScratchOffset + 8, I64(0));
        }

        return ScratchOffset;
    }

    /// <summary>Copies <paramref name="bytes"/> (4, 8 or 16) from guest memory into state at <paramref name="offset"/>.</summary>
    private void LoadVector(Operand addr, int offset, int bytes)
    {
        if (bytes == 4)
        {
            b.StState(offset, LoadMem(addr, IrType.I32));
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
            b.Call(MemoryHelpers.CheckAlign, addr, I64(15));
        }

        if (bytes == 4)
        {
            StoreMem(addr, b.LdState(offset, IrType.I32));
            return;
        }

        if (bytes == 16)
        {
            // Probe the high half first: x86 writes nothing when any part of the store faults.
            var hiAddr = b.Add(addr, I64(8));
            var hi = b.LdState(offset + 8, IrType.I64);
            var lo = b.LdState(offset, IrType.I64);
            StoreMem(hiAddr, hi);
            StoreMem(addr, lo);
            return;
        }

        StoreMem(addr, b.LdState(offset, IrType.I64));
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

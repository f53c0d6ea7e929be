using Emulator.Ir;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// Where compiled code finds what it touches, as byte offsets from a vCPU's state block: the
/// state fields blocks read and write outside their ops (pc, retired count, pending exception,
/// self-modifying-code flag) and the softmmu TLB's geometry. The target (x86) supplies them,
/// so this backend depends on the IR alone.
/// </summary>
public sealed record Tier1Layout(
    int Rip,
    int InstructionCount,
    int ExceptionVector,
    int ExceptionErrorCode,
    int ExceptionAddress,
    int CurrentTbInvalidated,
    int PageShift,
    int TlbIndexBits,
    int TlbEntryShift,
    int TlbReadTag,
    int TlbWriteTag,
    int TlbAddend);

/// <summary>One block to compile: its ops bound to frame slots (the tier-0 form), and the offset of the TLB its privilege level uses.</summary>
public sealed record Tier1Block(MicroOp[] Ops, ulong[] Constants, int FrameSize, ulong[] InsnPcs, int TlbOffset);

/// <summary>
/// What a block function returns: the kind in bits 0-1, and for a direct jump (<see cref="Jump"/>)
/// the chain slot of the Goto or ExitIf taken in the bits above.
/// </summary>
public static class ExitCode
{
    /// <summary>A direct jump to the new RIP; bits 2+ name the chain slot.</summary>
    public const int Jump = 0;

    /// <summary>A computed jump or a state change: look the next block up.</summary>
    public const int Dispatch = 1;

    /// <summary>A guest exception is recorded in the state; RIP is the faulting instruction's.</summary>
    public const int Exception = 2;

    public const int KindMask = 3;

    public static int JumpVia(int chainSlot) => Jump | (chainSlot << 2);
}

/// <summary>How the "atomic" import's op argument packs a LOCK-prefixed access.</summary>
public static class AtomicCode
{
    public static int Of(IrOpcode op, IrType type, AtomicOp rmw) =>
        (int)type | (op == IrOpcode.AtomicCas ? 4 : 0) | ((int)rmw << 3);

    public static (IrOpcode Op, IrType Type, AtomicOp Rmw) Decode(int code) =>
        ((code & 4) != 0 ? IrOpcode.AtomicCas : IrOpcode.AtomicRmw, (IrType)(code & 3), (AtomicOp)(code >> 3));
}

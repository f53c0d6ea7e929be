using Emulator.Ir;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// Where compiled code finds what it touches, as byte offsets from a vCPU's state block: the
/// state fields blocks read and write outside their ops (pc, retired count, pending exception,
/// self-modifying-code flag) and the softmmu TLB's geometry. The target (x86) supplies them,
/// so this backend depends on the IR alone.
/// </summary>
/// <param name="CodeFlags">Wasm address of the machine's block flags (one byte per compiled block, non-zero once it is invalid).</param>
/// <param name="FlagsHelper">The id of the lazy-flags helper, which modules compute themselves (<see cref="FlagsFunction"/>), or -1.</param>
/// <param name="CachedState">
/// 64-bit state fields compiled code may keep in locals between calls to the host (the guest's
/// registers): the host's memory accesses ("read", "write", "atomic") must neither read nor
/// write them; helpers may do both.
/// </param>
public sealed record Tier1Layout(
    int Rip,
    int InstructionCount,
    int InstructionLimit,
    int ExitRequest,
    int ExceptionVector,
    int ExceptionErrorCode,
    int ExceptionAddress,
    int CurrentTbInvalidated,
    int PageShift,
    int TlbIndexBits,
    int TlbEntryShift,
    int TlbReadTag,
    int TlbWriteTag,
    int TlbAddend,
    ulong CodeFlags,
    int FlagsHelper = -1,
    IReadOnlyList<int>? CachedState = null);

/// <summary>
/// One block to compile: its ops bound to frame slots (the tier-0 form), the offset of the TLB
/// its privilege level uses, its flag in the machine's block flags, and for each chain slot
/// (each direct jump) the index in the same module of the block it may chain to, or -1.
/// </summary>
public sealed record Tier1Block(MicroOp[] Ops, ulong[] Constants, int FrameSize, ulong[] InsnPcs, int TlbOffset, int Flag, int[] ChainTargets);

/// <summary>
/// What a module's run function returns: the kind in bits 0-1, for a direct jump (<see cref="Jump"/>)
/// the chain slot taken in bits 2-7, and in bits 8+ the module's index of the block that left.
/// </summary>
public static class ExitCode
{
    /// <summary>A direct jump to the new RIP, not followed inside the module.</summary>
    public const int Jump = 0;

    /// <summary>A computed jump or a state change: look the next block up.</summary>
    public const int Dispatch = 1;

    /// <summary>A guest exception is recorded in the state; RIP is the faulting instruction's.</summary>
    public const int Exception = 2;

    public const int KindMask = 3;

    public const int BlockShift = 8;

    public static int SlotOf(int code) => (code >> 2) & 63;

    public static int BlockOf(int code) => code >> BlockShift;

    public static int Of(int kind, int block, int chainSlot = 0) => kind | (chainSlot << 2) | (block << BlockShift);
}

/// <summary>How the "atomic" import's op argument packs a LOCK-prefixed access.</summary>
public static class AtomicCode
{
    public static int Of(IrOpcode op, IrType type, AtomicOp rmw) =>
        (int)type | (op == IrOpcode.AtomicCas ? 4 : 0) | ((int)rmw << 3);

    public static (IrOpcode Op, IrType Type, AtomicOp Rmw) Decode(int code) =>
        ((code & 4) != 0 ? IrOpcode.AtomicCas : IrOpcode.AtomicRmw, (IrType)(code & 3), (AtomicOp)(code >> 3));
}

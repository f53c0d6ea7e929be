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
/// <param name="CarryHelper">The id of the helper that computes CF alone from the same arguments, or -1; modules compute it themselves too.</param>
/// <param name="CcOp">The offset of the state field that says which operation set the flags (the lazy-flags helpers' first argument), or -1.</param>
/// <param name="JumpCache">
/// Offset from the state of the vCPU's jump cache: 2^<paramref name="JumpCacheBits"/> entries of
/// <see cref="JumpCacheEntry"/>, which the host fills with the compiled blocks it dispatches to,
/// and compiled code reads to follow computed jumps, returns and jumps into other modules
/// without leaving Wasm.
/// </param>
/// <param name="ModuleTransfers">
/// Offset from the state of the vCPU's module transfer counters (one u32 per module index), which
/// a run function increments as it starts when another module's trampoline called it, or -1
/// for none: the host reads them to find modules that hand control to each other often enough
/// to be worth compiling as one.
/// </param>
/// <param name="CachedState">
/// 64-bit state fields compiled code may keep in locals (the guest's registers, and the
/// retired-instruction count is kept the same way): the host's memory accesses ("read",
/// "write", "atomic") must neither read nor write them, since they are not stored before those
/// calls; helpers may do both.
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
    int TlbFetchTag,
    ulong CodeFlags,
    int JumpCache,
    int JumpCacheBits,
    int FlagsHelper = -1,
    IReadOnlyList<int>? CachedState = null,
    int CarryHelper = -1,
    int CcOp = -1,
    int ModuleTransfers = -1);

/// <summary>
/// One block to compile: its ops bound to frame slots (the tier-0 form), the offset of the TLB
/// its privilege level uses, its flag in the machine's block flags, and for each chain slot
/// (each direct jump) the index in the same module of the block it may chain to, or -1.
/// </summary>
/// <param name="Mode">The processor mode the block was translated for (the jump cache's entries carry it).</param>
public sealed record Tier1Block(MicroOp[] Ops, ulong[] Constants, int FrameSize, ulong[] InsnPcs, int TlbOffset, int Flag, int[] ChainTargets, uint Mode);

/// <summary>
/// One entry of a vCPU's jump cache (32 bytes): a compiled block, found by its pc. Compiled code
/// continues in it when pc and mode match, its flag says it is valid, and the fetch TLB maps
/// pc to <see cref="Phys"/> now (the host enters only blocks within one page).
/// </summary>
public static class JumpCacheEntry
{
    public const int Pc = 0;
    public const int Phys = 8;
    public const int Mode = 16;
    public const int Flag = 20;

    /// <summary>The module's index in the vCPU's module table.</summary>
    public const int Module = 24;

    /// <summary>The block's index in its module.</summary>
    public const int Block = 28;

    public const int Size = 32;
    public const int SizeShift = 5;

    /// <summary>A mode no block has: the mark of an empty entry.</summary>
    public const uint EmptyMode = uint.MaxValue;

    /// <summary>
    /// The multiplier of the index hash (Fibonacci hashing: 2^64 divided by the golden ratio). Its
    /// top bits mix every bit of pc; an XOR of pc with its page number, used before, gave user and
    /// kernel code that ran in one loop the same index (0x52c332, 0x52533a and 0xffffffff8107e660
    /// all took 0x61e or 0x61f), and they evicted each other on every round.
    /// </summary>
    public const ulong HashMultiplier = 0x9e3779b97f4a7c15;

    /// <summary>The entry index of <paramref name="pc"/> in a cache of 2^<paramref name="bits"/> entries: the top bits of pc times <see cref="HashMultiplier"/>.</summary>
    public static int IndexOf(ulong pc, int bits) => (int)((pc * HashMultiplier) >> (64 - bits));
}

/// <summary>
/// What a module's run function returns: the kind in bits 0-1, for a direct jump (<see cref="Jump"/>)
/// the chain slot taken in bits 2-5, the index of the block that left in its module in bits
/// 6-17, and that module's index in the module table in bits 18-31 (after a jump into another
/// module, the block that leaves may not be the entered module's).
/// </summary>
public static class ExitCode
{
    /// <summary>A direct jump to the new RIP, not followed inside the module.</summary>
    public const int Jump = 0;

    /// <summary>A computed jump or a state change: look the next block up.</summary>
    public const int Dispatch = 1;

    /// <summary>A guest exception is recorded in the state; RIP is the faulting instruction's.</summary>
    public const int Exception = 2;

    /// <summary>Inside Wasm only: a jump into block (bits 6-17) of module (bits 18-31) through the module table.</summary>
    public const int Transfer = 3;

    public const int KindMask = 3;

    public const int MaxChainSlots = 16;
    public const int MaxBlocks = 4096;
    public const int MaxModules = 16384;

    public static int SlotOf(int code) => (code >> 2) & 15;

    public static int BlockOf(int code) => (code >> 6) & (MaxBlocks - 1);

    public static int ModuleOf(int code) => (int)((uint)code >> 18);

    public static int Of(int kind, int module, int block, int chainSlot = 0) => kind | (chainSlot << 2) | (block << 6) | (module << 18);
}

/// <summary>How the "atomic" import's op argument packs a LOCK-prefixed access.</summary>
public static class AtomicCode
{
    public static int Of(IrOpcode op, IrType type, AtomicOp rmw) =>
        (int)type | (op == IrOpcode.AtomicCas ? 4 : 0) | ((int)rmw << 3);

    public static (IrOpcode Op, IrType Type, AtomicOp Rmw) Decode(int code) =>
        ((code & 4) != 0 ? IrOpcode.AtomicCas : IrOpcode.AtomicRmw, (IrType)(code & 3), (AtomicOp)(code >> 3));
}

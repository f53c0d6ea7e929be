using Emulator.Ir;
using Emulator.X86;

namespace Emulator.Execution;

/// <summary>
/// A translation block in its tier-0 form: micro-ops over a frame of 64-bit slots (constants
/// first, then temps), plus what the cache needs: its key (physical pc and mode), the guest
/// bytes it came from (for invalidation) and links to the blocks its direct jumps reach.
/// </summary>
public sealed class CompiledBlock
{
    public required MicroOp[] Ops { get; init; }

    /// <summary>Initial values of the first <see cref="Constants"/>.Length frame slots.</summary>
    public required ulong[] Constants { get; init; }

    public required int FrameSize { get; init; }

    /// <summary>Guest pc (offset in CS) of each guest instruction.</summary>
    public required ulong[] InsnPcs { get; init; }

    public required ulong Pc { get; init; }

    public required CpuMode Mode { get; init; }

    public required ulong PhysStart { get; init; }

    /// <summary>Bytes of guest code, from PhysStart (may run into <see cref="PhysPage2"/>).</summary>
    public required int GuestBytes { get; init; }

    /// <summary>Second physical page the code reaches into, or ulong.MaxValue.</summary>
    public required ulong PhysPage2 { get; init; }

    /// <summary>Cached successors for direct jumps within the same page (block chaining).</summary>
    public CompiledBlock?[] Chains { get; init; } = [];

    /// <summary>Set when guest code under this block was written; the block is never entered again.</summary>
    public volatile bool Invalid;

    /// <summary>Times the block was entered on tier 0 (the tier-up counter).</summary>
    public long Executions;

    /// <summary>0: not promoted; 1: queued or compiled (see <see cref="Tiering.TierUp"/>).</summary>
    public int PromotionState;

    /// <summary>Where the block is compiled on tier 1 (its module and index there); null on tier 0 or after eviction.</summary>
    public volatile Tiering.Tier1Placement? Tier1;

    /// <summary>This block's flag in guest memory's tier-1 code flags (set when it becomes invalid), or -1.</summary>
    public int Tier1Flag = -1;

    public int InstructionCount => InsnPcs.Length;

    /// <summary>Whether the guest byte range [pa, pa+size) overlaps this block's code.</summary>
    public bool Overlaps(ulong pa, int size)
    {
        ulong firstPageEnd = (PhysStart & ~0xfffUL) + 0x1000;
        ulong end1 = Math.Min(PhysStart + (ulong)GuestBytes, firstPageEnd);
        if (pa < end1 && PhysStart < pa + (ulong)size)
        {
            return true;
        }

        if (PhysPage2 != ulong.MaxValue)
        {
            ulong end2 = PhysPage2 + (PhysStart + (ulong)GuestBytes - firstPageEnd);
            return pa < end2 && PhysPage2 < pa + (ulong)size;
        }

        return false;
    }
}

using Emulator.Backend.Wasm.Lowering;
using Emulator.Ir;
using Xunit;

namespace Emulator.Backend.Wasm.Tests;

/// <summary>Which state fields a module keeps in Wasm locals (<see cref="ModuleFrame"/>).</summary>
public class ModuleFrameTests
{
    private static readonly Tier1Layout Layout = new(
        Rip: 128, InstructionCount: 1088, InstructionLimit: 1096, ExitRequest: 1076, ExceptionVector: 1040,
        ExceptionErrorCode: 1044, ExceptionAddress: 1048, CurrentTbInvalidated: 1080, PageShift: 12, TlbIndexBits: 8,
        TlbEntryShift: 5, TlbReadTag: 0, TlbWriteTag: 8, TlbAddend: 24, TlbFetchTag: 16, CodeFlags: 1 << 20,
        JumpCache: 20480, JumpCacheBits: 10, FlagsHelper: -1, CachedState: [0, 8, 16, 24]);

    private static MicroOp State(IrOpcode op, IrType type, int offset) => new() { Op = op, Type = type, Imm = (ulong)offset, Dest = 0, A = 0 };

    private static Tier1Block Block(params MicroOp[] ops) => new(ops, [0], 2, [0], 4096, 0, [], 0);

    [Fact]
    public void Registers_read_or_written_whole_are_kept_in_locals_and_only_written_ones_are_spilled()
    {
        var frame = ModuleFrame.For(0, [
            Block(State(IrOpcode.LdState, IrType.I64, 0), State(IrOpcode.StState, IrType.I64, 8)),
            Block(State(IrOpcode.LdState, IrType.I64, 8)),
        ], Layout);

        Assert.Equal([0, 8], frame.CachedOffsets);
        Assert.Equal([8], frame.WrittenOffsets);
        Assert.True(frame.IsCached(0, out _));
        Assert.False(frame.IsCached(16, out _)); // a candidate no block touches
    }

    [Fact]
    public void A_narrower_or_overlapping_access_anywhere_in_the_module_keeps_the_field_in_memory()
    {
        var frame = ModuleFrame.For(0, [
            Block(State(IrOpcode.LdState, IrType.I64, 0), State(IrOpcode.LdState, IrType.I64, 8), State(IrOpcode.LdState, IrType.I64, 16)),
            Block(State(IrOpcode.StState, IrType.I8, 1)),    // AH-style: a byte inside field 0
            Block(State(IrOpcode.LdState, IrType.I32, 8)),   // a 32-bit read of field 8
            Block(State(IrOpcode.LdState, IrType.I64, 20)),  // a 64-bit read straddling fields 16 and 24
        ], Layout);

        Assert.Empty(frame.CachedOffsets);
    }

    [Fact]
    public void Fields_outside_the_layouts_list_are_never_cached()
    {
        var frame = ModuleFrame.For(0, [Block(State(IrOpcode.LdState, IrType.I64, 32), State(IrOpcode.StState, IrType.I64, 128))], Layout);

        Assert.Empty(frame.CachedOffsets);
    }
}

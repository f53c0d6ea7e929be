using Emulator.Ir;
using Emulator.Ir.Passes;
using Xunit;
using static Emulator.Ir.IrBuilder;

namespace Emulator.Ir.Tests;

public class PassTests
{
    private static (IrBlock Block, IrBuilder B) NewBlock()
    {
        var block = new IrBlock();
        var b = new IrBuilder(block);
        b.BeginInsn(0x100);
        return (block, b);
    }

    [Fact]
    public void FoldsConstantArithmetic()
    {
        var (block, b) = NewBlock();
        var x = b.LdState(0, IrType.I64);
        var k = b.Mul(I64(6), I64(7)); // folded only by the pass (the builder does not fold Mul)
        b.StState(8, b.Add(x, k));
        b.Goto(0x200);
        Optimizer.Run(block);
        string text = IrPrinter.Print(block);
        Assert.DoesNotContain("Mul", text);
        Assert.Contains("Add t0, 2a:i64", text);
        Assert.Empty(IrValidator.Validate(block));
    }

    [Fact]
    public void ForwardsStoredStateToLaterLoads()
    {
        var (block, b) = NewBlock();
        var x = b.LdState(0, IrType.I64);
        b.StState(8, x);
        var y = b.LdState(8, IrType.I64); // reads back what was just stored
        b.StState(16, y);
        b.Goto(0x200);
        Optimizer.Run(block);
        Assert.Equal(1, CountOps(block, IrOpcode.LdState));
    }

    [Fact]
    public void DropsFlagStoresOverwrittenBeforeAnyReader()
    {
        var (block, b) = NewBlock();
        const int ccOp = 100, ccDst = 108;
        var x = b.LdState(0, IrType.I64);
        b.StState(ccOp, I64(1));
        b.StState(ccDst, x);
        b.BeginInsn(0x104);
        var y = b.Add(x, I64(1));
        b.StState(ccOp, I64(2));
        b.StState(ccDst, y);
        b.Goto(0x200);
        Optimizer.Run(block);
        Assert.Equal(2, CountOps(block, IrOpcode.StState)); // only the second instruction's flag stores remain
    }

    [Fact]
    public void KeepsFlagStoresBeforeAnOpThatMayFault()
    {
        var (block, b) = NewBlock();
        const int ccOp = 100;
        var x = b.LdState(0, IrType.I64);
        b.StState(ccOp, I64(1));
        b.BeginInsn(0x104);
        b.Load(x, IrType.I32); // a fault here must see the first instruction's flags
        b.StState(ccOp, I64(2));
        b.Goto(0x200);
        Optimizer.Run(block);
        Assert.Equal(2, CountOps(block, IrOpcode.StState));
    }

    [Fact]
    public void RemovesUnusedPureOps()
    {
        var (block, b) = NewBlock();
        var x = b.LdState(0, IrType.I64);
        b.Xor(x, I64(0x55));
        b.Goto(0x200);
        Optimizer.Run(block);
        Assert.Equal(1, block.LiveCount);
    }

    [Fact]
    public void ValidatorRejectsUseBeforeDefinitionAndMissingExit()
    {
        var block = new IrBlock();
        ref var i = ref block.Append();
        i.Op = IrOpcode.Add;
        i.Type = IrType.I32;
        i.Flags = OpTable.Get(IrOpcode.Add).Flags;
        i.A = Operand.TempOf(0, IrType.I32);
        i.B = I32(1);
        i.Dest = block.NewTemp(IrType.I32);
        var errors = IrValidator.Validate(block);
        Assert.Contains(errors, e => e.Contains("used before it is defined"));
        Assert.Contains(errors, e => e.Contains("does not end with an exit"));
    }

    [Theory]
    [InlineData(IrOpcode.Shl, IrType.I8, 0x81UL, 1UL, 0x02UL)]
    [InlineData(IrOpcode.Shr, IrType.I16, 0x8000UL, 15UL, 1UL)]
    [InlineData(IrOpcode.Sar, IrType.I32, 0x8000_0000UL, 31UL, 0xffff_ffffUL)]
    [InlineData(IrOpcode.Sar, IrType.I8, 0x80UL, 100UL, 0xffUL)]
    [InlineData(IrOpcode.Rotl, IrType.I8, 0x81UL, 1UL, 0x03UL)]
    [InlineData(IrOpcode.Rotr, IrType.I64, 1UL, 1UL, 0x8000_0000_0000_0000UL)]
    [InlineData(IrOpcode.MulHiS, IrType.I32, 0xffff_ffffUL, 0xffff_ffffUL, 0UL)]
    [InlineData(IrOpcode.MulHiU, IrType.I64, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue - 1)]
    [InlineData(IrOpcode.Clz, IrType.I16, 1UL, 0UL, 15UL)]
    [InlineData(IrOpcode.Ctz, IrType.I32, 0UL, 0UL, 32UL)]
    [InlineData(IrOpcode.Bswap, IrType.I32, 0x11223344UL, 0UL, 0x44332211UL)]
    public void EvaluatesPureOpsAtTheirWidth(IrOpcode op, IrType t, ulong a, ulong b, ulong expected) =>
        Assert.Equal(expected, IrEval.Pure(op, t, t, 0, a, b, 0));

    private static int CountOps(IrBlock block, IrOpcode op)
    {
        int n = 0;
        for (int k = 0; k < block.Count; k++)
        {
            n += !block[k].Dead && block[k].Op == op ? 1 : 0;
        }

        return n;
    }
}

using Emulator.Ir;
using Xunit;

namespace Emulator.Ir.Tests;

public class OpTableTests
{
    [Fact]
    public void EveryOpHasATableEntry()
    {
        foreach (var op in OpTable.All)
        {
            var info = OpTable.Get(op);
            Assert.Equal(op.ToString(), info.Name);
            Assert.InRange(info.Operands, 0, 4);
        }

        Assert.Equal(Enum.GetValues<IrOpcode>().Length, OpTable.Count);
    }

    [Fact]
    public void EndsBlockOpsAlsoExit()
    {
        foreach (var op in OpTable.All)
        {
            var info = OpTable.Get(op);
            if (info.Is(OpFlags.EndsBlock))
            {
                Assert.True(info.Is(OpFlags.Exits), $"{op} ends a block but is not marked Exits");
            }

            if (info.Is(OpFlags.Pure))
            {
                Assert.False(info.Is(OpFlags.Memory) || info.Is(OpFlags.MayFault) || info.Is(OpFlags.Exits), $"{op} is pure but has effects");
            }
        }
    }

    [Fact]
    public void PrinterShowsEveryOp()
    {
        var helper = HelperRegistry.Register("test_helper", 2, OpFlags.Pure);
        foreach (var op in OpTable.All)
        {
            var block = IrSamples.With(op, helper);
            string text = IrPrinter.Print(block);
            Assert.Contains(op.ToString(), text);
            Assert.True(IrValidator.Validate(block).Count == 0, $"{op}: " + string.Join("; ", IrValidator.Validate(block)));
        }
    }

    [Fact]
    public void EveryPureOpEvaluates()
    {
        foreach (var op in OpTable.All)
        {
            if (OpTable.Get(op).Is(OpFlags.Pure) && op != IrOpcode.Call)
            {
                _ = IrEval.Pure(op, IrType.I32, IrType.I32, 0, 7, 3, 1);
            }
        }
    }
}

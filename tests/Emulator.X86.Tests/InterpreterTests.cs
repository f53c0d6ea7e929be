using Emulator.Execution;
using Emulator.Ir;
using Emulator.X86.Frontend;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Xunit;

namespace Emulator.X86.Tests;

public unsafe class InterpreterTests
{
    private static readonly HelperInfo AddHelper = HelperTable.Define("test_add", 2, OpFlags.Pure, &Add);

    private static ulong Add(Cpu cpu, ulong a, ulong b, ulong c, ulong d) => a + b;

    [Fact]
    public void RunsEveryIrOp()
    {
        foreach (var op in OpTable.All)
        {
            using var m = new TestMachine();
            m[Gpr.Rax] = TestMachine.DataAddress;
            m[Gpr.Rcx] = 3;
            var block = IrSamples.With(op, AddHelper);
            var tb = BlockCompiler.Compile(block, new TranslationInfo(0x1000, 0x1000, ulong.MaxValue, block.InsnPcs.Count, 4), m.Cpu.Mode);
            long budget = 100;
            var exit = new Interpreter().Run(m.Cpu, tb, ref budget);
            // Samples that do not end the block themselves end with a Goto (their conditions are false here).
            var expected = op switch
            {
                IrOpcode.Raise => BlockExit.Exception,
                IrOpcode.GotoIndirect or IrOpcode.Exit => BlockExit.Dispatch,
                _ => BlockExit.Jump,
            };

            Assert.True(expected == exit, $"{op}: {exit}");
        }
    }

    [Fact]
    public void CountsRetiredInstructionsAndChainsBlocks()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.mov(Iced.Intel.AssemblerRegisters.ecx, 1000);
            a.Label(ref top);
            a.dec(Iced.Intel.AssemblerRegisters.ecx);
            a.jnz(top);
        }).Run();
        Assert.Equal(1 + 2 * 1000 + 1UL, m.Cpu.S.InstructionCount); // mov, 1000 x (dec, jnz), hlt
        Assert.True(m.Engine.Cache.Count <= 4);
    }

    [Fact]
    public void InstructionBudgetStopsARunawayLoop()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.jmp(top);
        });
        Assert.Equal(StopReason.Budget, m.Engine.Run(10_000));
        Assert.InRange(m.Cpu.S.InstructionCount, 10_000UL, 10_064UL);
    }
}

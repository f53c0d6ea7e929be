using Emulator.Backend.Wasm.Engines;
using Emulator.Execution;
using Emulator.X86;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Backend.Wasm.Tests;

public class Tier1ExecutionTests
{
    public static TheoryData<string> Engines => ["cil"];

    private static IWasmEngine EngineNamed(string name) => Execution.Tiering.Tier1Options.CreateEngine(name);

    /// <summary>A loop over memory: loads, stores, arithmetic, flags and a backward branch.</summary>
    private static void SumLoop(Assembler a)
    {
        var loop = a.CreateLabel();
        a.mov(rsi, Tier1Machine.DataAddress);
        a.xor(eax, eax);
        a.mov(ecx, 1000);
        a.Label(ref loop);
        a.mov(__qword_ptr[rsi + rcx * 8], rcx);
        a.add(rax, __qword_ptr[rsi + rcx * 8]);
        a.imul(rdx, rax, 3);
        a.rol(rdx, 7);
        a.dec(ecx);
        a.jnz(loop);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void A_loop_runs_on_tier1_with_the_same_result_as_tier0(string engine)
    {
        using var t0 = new Tier1Machine(null).Load(SumLoop);
        using var t1 = new Tier1Machine(EngineNamed(engine)).Load(SumLoop);
        Assert.Equal(StopReason.Halted, t0.Run());
        Assert.Equal(StopReason.Halted, t1.Run());

        Assert.Equal(500500UL, t0.Cpu.Reg(Gpr.Rax));
        for (int r = 0; r < 16; r++)
        {
            Assert.Equal(t0.Cpu.Reg((Gpr)r), t1.Cpu.Reg((Gpr)r));
        }

        Assert.Equal(t0.Cpu.Rflags, t1.Cpu.Rflags);
        Assert.Equal(t0.Cpu.S.InstructionCount, t1.Cpu.S.InstructionCount);
        Assert.True(t1.Engine.Tier1Runs >= 1, "tier 1 never ran");
        Assert.Equal(0, t0.Engine.Tier1Runs);
    }
}

using Emulator.Execution;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.DiffTests;

/// <summary>Checks of the harness itself: the host thunk runs code and returns its state, and the comparison sees differences.</summary>
public sealed class HarnessTests
{
    [Fact]
    public void HostRunsCodeAndReturnsRegistersFlagsAndMemory()
    {
        var host = HostCpu.Instance;
        var input = new MachineState { Rflags = (ulong)(RFlags.Fixed1 | RFlags.DF), Mxcsr = 0x1f80 | 0x6000 };
        input.Gpr[(int)Gpr.Rax] = ulong.MaxValue;
        input.Gpr[(int)Gpr.Rbx] = 1;
        input.Gpr[(int)Gpr.R15] = host.DataAddress;
        input.Xmm[2] = 0x0000_0001_0000_0002;
        input.Xmm[3] = 0x0000_0003_0000_0004;
        var output = new MachineState();
        var code = Assemble(a =>
        {
            a.add(rax, rbx); // 0 with CF, ZF, AF, PF
            a.mov(__qword_ptr[r15 + 8], rbx);
            a.paddd(xmm1, xmm1);
        });
        lock (HostCpu.Gate)
        {
            host.Data.Clear();
            host.Run(code, input, output);
            Assert.Equal(1UL, BitConverter.ToUInt64(host.Data[8..16]));
        }

        Assert.Equal(0UL, output.Gpr[(int)Gpr.Rax]);
        Assert.Equal(1UL, output.Gpr[(int)Gpr.Rbx]);
        const ulong arith = (ulong)(RFlags.Arith | RFlags.DF);
        Assert.Equal((ulong)(RFlags.CF | RFlags.ZF | RFlags.AF | RFlags.PF | RFlags.DF), output.Rflags & arith);
        Assert.Equal(0x0000_0002_0000_0004UL, output.Xmm[2]);
        Assert.Equal(0x0000_0006_0000_0008UL, output.Xmm[3]);
        Assert.Equal(0x7f80u, output.Mxcsr);
    }

    [Fact]
    public void ComparisonReportsADifferingRegister()
    {
        // LEA of RSP differs by construction: the host stack is not the emulator's.
        using var runner = new DiffRunner();
        var input = new MachineState { Rflags = (ulong)RFlags.Fixed1, Mxcsr = 0x1f80 };
        var insns = new[] { Instruction.Create(Code.Lea_r64_m, Register.RAX, new MemoryOperand(Register.RSP)) };
        var c = new DiffCase("alu", 1, 2, input, new byte[HostCpu.DataSize], insns, Assemble(a => a.lea(rax, __[rsp])), (ulong)RFlags.Arith);
        var result = runner.RunCase(c);
        Assert.Equal(StopReason.Halted, result.Stop);
        Assert.False(result.Passed);
        Assert.Contains(result.Differences, d => d.StartsWith("rax", StringComparison.Ordinal));
        var report = runner.Describe(result);
        Assert.Contains("--seed 0x1 --group alu --case 2", report);
        Assert.Contains("lea", report);
    }

    [Fact]
    public void CasesAreReproducible()
    {
        foreach (var g in DiffGroup.All)
        {
            var a = g.Build(42, 7, HostCpu.Instance.DataAddress);
            var b = g.Build(42, 7, HostCpu.Instance.DataAddress);
            Assert.Equal(a.Code, b.Code);
            Assert.Equal(a.Data, b.Data);
            Assert.Equal(a.Input.Gpr, b.Input.Gpr);
        }
    }

    /// <summary>The host runner reports a fault's vector, error code, CR2 and RIP as the CPU raised them, and the emulator's world agrees.</summary>
    [HostRunnerFact]
    public void HostRunnerReportsFaultsAsTheCpuRaisesThem()
    {
        using var runner = new WorldRunner();
        var ud2 = runner.RunCase(WorldCaseOf(Assemble(a => a.ud2()), WorldCase.AllWritable()));
        Assert.True(ud2.Passed, WorldRunner.Describe(ud2));
        Assert.Equal((Vector.UD, World.CodeAddress, World.UserCs64), (ud2.Native.Vector, ud2.Native.Rip, ud2.Native.Cs));

        // A 4-byte store two bytes before a not-present page: #PF(U|W), CR2 the page, nothing written.
        var pages = WorldCase.AllWritable();
        pages[^1] = PageAccess.None;
        var store = runner.RunCase(WorldCaseOf(Assemble(a => a.mov(__dword_ptr[r15 - 2], eax)), pages, r15: World.RegionAddress + World.RegionBytes - 0x1000));
        Assert.True(store.Passed, WorldRunner.Describe(store));
        Assert.Equal(Vector.PF, store.Native.Vector);
        Assert.Equal(6UL, store.Native.ErrorCode);
        Assert.Equal(World.RegionAddress + World.RegionBytes - 0x1000, store.Native.Cr2);
        Assert.Equal(store.Case.Region, store.Native.Region);

        // The final HLT ends a case that does not fault: #GP(0) at CPL 3.
        var nop = runner.RunCase(WorldCaseOf(Assemble(a => a.nop()), WorldCase.AllWritable()));
        Assert.Equal((Vector.GP, World.CodeAddress + 1), (nop.Native.Vector, nop.Native.Rip));
    }

    [Fact]
    public void WorldCasesAreReproducible()
    {
        foreach (var g in WorldGroup.All)
        {
            var a = g.Build(42, 7);
            var b = g.Build(42, 7);
            Assert.Equal(a.Code, b.Code);
            Assert.Equal(a.Region, b.Region);
            Assert.Equal(a.Pages, b.Pages);
            Assert.Equal(a.FxImage(), b.FxImage());
        }
    }

    private static WorldCase WorldCaseOf(byte[] code, PageAccess[] pages, ulong r15 = 0)
    {
        var input = new MachineState { Rflags = (ulong)RFlags.Fixed1, Mxcsr = 0x1f80 };
        input.Gpr[(int)Gpr.Rsp] = World.UserRsp;
        input.Gpr[(int)Gpr.R15] = r15;
        var c = new DiffCase("harness", 1, 0, input, new byte[HostCpu.DataSize], [], code, (ulong)RFlags.Arith);
        return new WorldCase(c, 64, pages, WorldCase.RegionAround(c));
    }

    private static byte[] Assemble(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), EmulatorCpu.CodeAddress);
        return ms.ToArray();
    }
}

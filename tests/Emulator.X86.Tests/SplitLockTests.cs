using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>LOCK-prefixed accesses that cross a page, from two vCPUs at once.</summary>
public sealed class SplitLockTests
{
    /// <summary>
    /// Two vCPUs on two threads each add 1 many times to one dword that crosses a page boundary
    /// (a split lock: no host atomic covers it): no increment is lost.
    /// </summary>
    [Fact]
    public async Task PageCrossingLockedAddsFromTwoVcpusLoseNothing()
    {
        const int Rounds = 100_000;
        const ulong counter = TestMachine.DataAddress + 0x1000 - 2;
        using var first = new TestMachine();
        first.Load(a =>
        {
            var top = a.CreateLabel();
            a.mov(rbx, counter);
            a.mov(ecx, Rounds);
            a.Label(ref top);
            a.@lock.add(__dword_ptr[rbx], 1);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });

        using var second = new Cpu(first.Memory);
        using var engine = new Emulator.Execution.ExecutionEngine(second, first.Cache);
        CpuSetup.EnterFlat(second, 64, TestMachine.CodeAddress, TestMachine.StackTop - 0x10000);

        var other = Task.Run(() => engine.Run(10_000_000));
        first.Run(10_000_000);
        Assert.Equal(Emulator.Execution.StopReason.Halted, await other);
        Assert.Equal(2UL * Rounds, first.ReadMem(counter, 4));
    }
}

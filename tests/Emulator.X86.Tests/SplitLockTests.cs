using Emulator.Execution;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>LOCK-prefixed accesses that cross a page (split locks), from two vCPUs at once.</summary>
public sealed class SplitLockTests
{
    private const int Rounds = 200_000;

    /// <summary>A qword whose low half ends one page and whose high half starts the next.</summary>
    private const ulong Counter = TestMachine.DataAddress + 0x1000 - 4;

    private const ulong SecondCode = TestMachine.CodeAddress + 0x4000;

    /// <summary>
    /// One vCPU adds 1 to both halves of the qword with split locks, the other adds 1 to its high
    /// half with an aligned locked add (a host atomic) at the same time: no increment of either is
    /// lost, so a split lock is atomic against the other vCPU's aligned atomics too.
    /// </summary>
    [Fact]
    public async Task SplitLocksAreAtomicAgainstAnotherVcpusAlignedAtomics()
    {
        using var m = new TestMachine();
        m.Load(a => Loop(a, () => a.@lock.add(__qword_ptr[rbx], rdx), 0x1_0000_0001));
        m.Load(a => Loop(a, () => a.@lock.add(__dword_ptr[rbx + 4], 1), 0), SecondCode);

        await RunTogether(m, TestMachine.CodeAddress, SecondCode);
        Assert.Equal(((ulong)(2 * Rounds) << 32) | Rounds, m.ReadMem(Counter, 8));
    }

    /// <summary>Both vCPUs add 1 to the qword with split locks: none is lost.</summary>
    [Fact]
    public async Task SplitLocksFromTwoVcpusLoseNothing()
    {
        using var m = new TestMachine();
        m.Load(a => Loop(a, () => a.@lock.add(__qword_ptr[rbx], rdx), 1));

        await RunTogether(m, TestMachine.CodeAddress, TestMachine.CodeAddress);
        Assert.Equal(2UL * Rounds, m.ReadMem(Counter, 8));
    }

    private static void Loop(Iced.Intel.Assembler a, Action body, ulong addend)
    {
        var top = a.CreateLabel();
        a.mov(rbx, Counter);
        a.mov(rdx, addend);
        a.mov(ecx, Rounds);
        a.Label(ref top);
        body();
        a.dec(ecx);
        a.jnz(top);
        a.hlt();
    }

    /// <summary>
    /// Two vCPUs on the machine's memory and cache, each on its own thread, started together and
    /// run until they halt (a split lock on the other stops a run early; it goes on after).
    /// </summary>
    private static async Task RunTogether(TestMachine m, ulong first, ulong second)
    {
        using var start = new Barrier(2);
        Task Vcpu(ulong code, ulong stack) => Task.Run(() =>
        {
            using var cpu = new Cpu(m.Memory);
            using var engine = new ExecutionEngine(cpu, m.Cache);
            CpuSetup.EnterFlat(cpu, 64, code, stack);
            start.SignalAndWait();
            StopReason reason;
            do
            {
                Interlocked.Exchange(ref cpu.S.ExitRequest, 0);
                reason = engine.Run(100_000_000);
            }
            while (reason == StopReason.ExitRequested);

            Assert.Equal(StopReason.Halted, reason);
        });

        await Task.WhenAll(Vcpu(first, TestMachine.StackTop), Vcpu(second, TestMachine.StackTop - 0x10000)).WaitAsync(TimeSpan.FromMinutes(5));
    }
}

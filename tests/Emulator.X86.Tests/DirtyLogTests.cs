using Emulator.Execution;
using Emulator.Execution.Tiering;
using Emulator.X86.Memory;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// The dirty-page log live migration reads (GuestMemory.SwapDirtyLog): every way guest RAM is
/// written marks its page, including stores through TLB write tags granted before the log
/// started, on the interpreter and on compiled code of both tier-1 engines. (Device writes:
/// tests/Emulator.Devices.Tests/DirtyLogDmaTests.cs.)
/// </summary>
public sealed class DirtyLogTests
{
    private const ulong CodeAddress = 0x10000, StackTop = 0x80000;
    private const ulong PageA = 0x200000, PageB = 0x300000, PageC = 0x400000;
    private const ulong RamBytes = 16 << 20;

    public static TheoryData<string> Tiers => ["off", "wasmtime", "cil"];

    private static (GuestMemory Memory, TranslationCache Cache, Cpu Cpu, ExecutionEngine Engine) Machine(string tier)
    {
        var tier1 = tier == "off" ? null : new Tier1Options(Tier1Options.CreateEngine(tier)) { Threshold = 1, Synchronous = true };
        var (memory, cache) = MachineCode.Create(RamBytes, tier1);
        var cpu = new Cpu(memory);
        var engine = new ExecutionEngine(cpu, cache);
        CpuSetup.EnterFlat(cpu, 64, CodeAddress, StackTop);
        return (memory, cache, cpu, engine);
    }

    /// <summary>A swap asks every vCPU to leave its run; as a vCPU's loop does (VcpuActor), this one clears the request and enters again.</summary>
    private static StopReason RunToHalt(ExecutionEngine engine)
    {
        StopReason reason;
        while ((reason = engine.Run(100_000)) == StopReason.ExitRequested)
        {
            Interlocked.Exchange(ref engine.Cpu.S.ExitRequest, 0);
        }

        return reason;
    }

    private static bool Marked(ulong[] log, ulong pa) => (log[pa >> 18] & (1UL << (int)((pa >> 12) & 63))) != 0;

    private static int Count(ulong[] log) => log.Sum(w => System.Numerics.BitOperations.PopCount(w));

    [Theory]
    [MemberData(nameof(Tiers))]
    public void Stores_through_write_tags_granted_before_the_log_started_mark_their_pages(string tier)
    {
        var (memory, cache, cpu, engine) = Machine(tier);
        using (memory)
        using (cache)
        using (cpu)
        using (engine)
        {
            // A loop that stores to page A (a plain store), page B (LOCK XADD) and page C (REP STOSB), then halts.
            var a = new Assembler(64);
            a.mov(rcx, 3);
            var top = a.CreateLabel();
            a.Label(ref top);
            a.mov(rax, PageA);
            a.mov(__qword_ptr[rax + 8], rcx);
            a.mov(rbx, PageB);
            a.mov(rdx, 1);
            a.@lock.xadd(__qword_ptr[rbx], rdx);
            a.mov(rdi, PageC + 0x100);
            a.push(rcx);
            a.mov(rcx, 64);
            a.mov(al, 0x5a);
            a.rep.stosb();
            a.pop(rcx);
            a.dec(rcx);
            a.jnz(top);
            a.hlt();
            var code = TestMachine.Assemble(a, CodeAddress);
            code.CopyTo(memory.Span(CodeAddress, code.Length));

            void Run()
            {
                cpu.S.Rip = CodeAddress;
                cpu.S.Halted = 0;
                Assert.Equal(StopReason.Halted, RunToHalt(engine));
            }

            Run(); // the TLB now holds write tags for A, B, C and the stack
            var first = memory.SwapDirtyLog(keepLogging: true);
            Assert.Equal((int)(RamBytes >> 12), Count(first)); // the log was off: every page must be sent

            Assert.Equal(0, Count(memory.SwapDirtyLog(keepLogging: true))); // nothing ran since
            Run();
            var log = memory.SwapDirtyLog(keepLogging: true);
            Assert.True(Marked(log, PageA), "plain store");
            Assert.True(Marked(log, PageB), "LOCK XADD");
            Assert.True(Marked(log, PageC), "REP STOSB");
            Assert.True(Marked(log, StackTop - 8), "PUSH");
            Assert.False(Marked(log, PageA + 0x1000), "a page nothing wrote");
            Assert.False(Marked(log, CodeAddress), "the code page, only read");
            if (tier != "off")
            {
                Assert.True(engine.Tier1Runs > 0, "the loop ran on tier 1");
            }

            // Each round starts clean, and the tags of the last round are gone: the next run marks again.
            Run();
            log = memory.SwapDirtyLog(keepLogging: false);
            Assert.True(Marked(log, PageA) && Marked(log, PageB) && Marked(log, PageC));
            Assert.False(memory.IsLoggingDirty);
            Run();
            Assert.Equal((int)(RamBytes >> 12), Count(memory.SwapDirtyLog(keepLogging: false))); // off again: everything
        }
    }

    [Fact]
    public void The_page_walker_marks_the_page_tables_whose_accessed_and_dirty_bits_it_sets()
    {
        using var m = new TestMachine();
        // Identity-map the first 2 MiB with one 4 KiB table at 0x103000 (PML4 0x100000, PDPT 0x101000, PD 0x102000).
        const ulong Pml4 = 0x100000, Pdpt = 0x101000, Pd = 0x102000, Pt = 0x103000;
        m.WriteMem(Pml4, Pdpt | 3, 8);
        m.WriteMem(Pdpt, Pd | 3, 8);
        m.WriteMem(Pd, Pt | 3, 8);
        for (ulong i = 0; i < 512; i++)
        {
            m.WriteMem(Pt + (i * 8), (i << 12) | 3, 8);
        }

        m.Load(a =>
        {
            a.mov(rax, Pml4);
            a.mov(cr3, rax); // flushes the TLB; the next accesses walk and set A (and D for the store)
            a.mov(__qword_ptr[0x1ff000], rax);
        });
        m.Memory.SwapDirtyLog(keepLogging: true);
        m.Cpu.S.Cr3 = Pml4;
        m.Cpu.S.Cr4 |= 1 << 5; // PAE
        m.Cpu.S.Cr0 |= 1UL << 31;
        var stop = RunToHalt(m.Engine);
        Assert.True(stop == StopReason.Halted, $"{stop}: vector {m.Cpu.S.ExceptionVector} at 0x{m.Cpu.S.Rip:x}, error code {m.Cpu.S.ExceptionErrorCode}, cr2 0x{m.Cpu.S.Cr2:x}");
        var log = m.Memory.SwapDirtyLog(keepLogging: false);
        Assert.True(Marked(log, Pt), "the page table whose entries got A and D");
        Assert.True(Marked(log, 0x1ff000), "the stored-to page");
        Assert.NotEqual(0UL, m.ReadMem(Pt + (0x1ff * 8), 8) & (1 << 6)); // D set in the PTE
    }
}

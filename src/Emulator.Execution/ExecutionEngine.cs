using Emulator.Execution.Tiering;
using Emulator.X86;
using Emulator.X86.Memory;

namespace Emulator.Execution;

/// <summary>Why <see cref="ExecutionEngine.Run"/> returned.</summary>
public enum StopReason
{
    /// <summary>The instruction budget is used up.</summary>
    Budget,

    /// <summary>A guest exception is pending in the state (vector, error code); RIP points at the instruction.</summary>
    Exception,

    /// <summary>The guest executed HLT.</summary>
    Halted,

    /// <summary>Someone set ExitRequest (an interrupt, a pause).</summary>
    ExitRequested,

    /// <summary>A fault while delivering a double fault: the machine must reset or stop.</summary>
    TripleFault,
}

/// <summary>
/// The dispatcher of one vCPU: finds or translates the block at RIP and runs it on the
/// interpreter, chaining direct jumps between blocks of the same page as it goes.
/// </summary>
public sealed class ExecutionEngine : IDisposable
{
    private readonly Interpreter interpreter = new();

    /// <summary>
    /// This vCPU's direct-mapped cache of recently run blocks by virtual pc (QEMU's tb_jmp_cache):
    /// most dispatches find their block here without taking the shared cache's lock. An entry is
    /// used only if it is still valid and matches the physical pc and mode found now.
    /// </summary>
    private readonly CompiledBlock?[] jumpCache = new CompiledBlock?[4096];

    /// <summary>This vCPU's tier-1 side, when the cache has tier 1 on.</summary>
    private readonly Tier1Vcpu? tier1;

    public ExecutionEngine(Cpu cpu, TranslationCache? cache = null)
    {
        Cpu = cpu;
        Cache = cache ?? new TranslationCache();
        Cache.Attach(cpu);
        if (Cache.TierUp is { } tierUp)
        {
            tier1 = new Tier1Vcpu(tierUp, cpu);
            interpreter.TierUp = tierUp;
        }
    }

    /// <summary>Frees this vCPU's tier-1 context (a Wasmtime store and its instances).</summary>
    public void Dispose() => tier1?.Dispose();

    /// <summary>Entries into tier-1 code by this vCPU (each runs one block or more).</summary>
    public long Tier1Runs => tier1?.ModuleRuns ?? 0;

    public Cpu Cpu { get; }

    public TranslationCache Cache { get; }

    /// <summary>
    /// True in a machine: guest exceptions are delivered through the guest's IDT and external
    /// interrupts are taken. False (the CPU core alone, tests): a guest exception stops the run.
    /// </summary>
    public bool DeliverEvents { get; set; }

    /// <summary>The interrupt controller, when <see cref="DeliverEvents"/> is set.</summary>
    public IInterruptSource? Interrupts { get; set; }

    /// <summary>
    /// Runs up to <paramref name="maxInstructions"/> guest instructions, holding the memory's
    /// <see cref="GuestMemory.Exclusive"/> shared (a split lock on another vCPU waits for this run
    /// to reach an instruction boundary, and this run waits for it to finish).
    /// </summary>
    public StopReason Run(long maxInstructions)
    {
        var exclusive = Cpu.Memory.Exclusive;
        exclusive.EnterReadLock();
        try
        {
            return RunShared(maxInstructions);
        }
        finally
        {
            exclusive.ExitReadLock();
        }
    }

    private StopReason RunShared(long maxInstructions)
    {
        var cpu = Cpu;
        long budget = maxInstructions;
        CompiledBlock? chainFrom = null;
        int chainSlot = -1;
        while (true)
        {
            if (cpu.S.ExceptionVector >= 0)
            {
                if (!DeliverEvents)
                {
                    return StopReason.Exception;
                }

                if (cpu.DeliverPendingException() == DeliveryResult.TripleFault)
                {
                    return StopReason.TripleFault;
                }

                chainFrom = null;
                continue;
            }

            if (DeliverEvents && cpu.InterruptsEnabled && Interrupts is { HasPendingInterrupt: true } pic)
            {
                int vector = pic.Acknowledge();
                if (vector >= 0 && cpu.DeliverExternalInterrupt(vector) == DeliveryResult.TripleFault)
                {
                    return StopReason.TripleFault;
                }

                chainFrom = null;
                continue;
            }

            if (cpu.S.Halted != 0)
            {
                return StopReason.Halted;
            }

            if (cpu.S.ExitRequest != 0)
            {
                return StopReason.ExitRequested;
            }

            if (budget <= 0)
            {
                return StopReason.Budget;
            }

            var tb = Lookup(cpu);
            if (tb is null)
            {
                // The instruction fetch faulted (recorded in the state): deliver it, or report it, at the top.
                chainFrom = null;
                continue;
            }

            if (chainFrom is { Invalid: false } && chainFrom.Mode == tb.Mode && SamePage(chainFrom, tb))
            {
                chainFrom.Chains[chainSlot] = tb;
            }

            BlockExit exit = BlockExit.NotRun;
            CompiledBlock? last = null;
            int lastSlot = -1;
            if (tier1 is not null && tb.Tier1 is { } placement)
            {
                exit = tier1.Run(tb, placement, ref budget, out last, out lastSlot);
            }

            if (exit == BlockExit.NotRun)
            {
                exit = interpreter.Run(cpu, tb, ref budget);
                (last, lastSlot) = (interpreter.LastBlock, interpreter.LastSlot);
            }

            cpu.RunningBlock = null;
            cpu.S.InterruptShadow = 0; // the shadow covers one instruction; a block that sets it ends after that one
            (chainFrom, chainSlot) = exit == BlockExit.Jump ? (last, lastSlot) : (null, -1);
        }
    }

    /// <summary>
    /// Chains stay within one physical page and one virtual page, so a block reached by a chain
    /// is always the one a lookup through the current mapping would find.
    /// </summary>
    internal static bool SamePage(CompiledBlock from, CompiledBlock to) =>
        (from.PhysStart & ~GuestMemory.PageMask) == (to.PhysStart & ~GuestMemory.PageMask)
        && (from.Pc & ~GuestMemory.PageMask) == (to.Pc & ~GuestMemory.PageMask);

    private CompiledBlock? Lookup(Cpu cpu)
    {
        ulong linear = cpu.Mode.Is64 ? cpu.S.Rip : (cpu.S.Cs.Base + cpu.S.Rip) & 0xffff_ffff;
        if (!cpu.TranslateFetch(linear, out ulong phys))
        {
            return null;
        }

        var mode = cpu.Mode;
        ulong pc = cpu.S.Rip;
        ref var slot = ref jumpCache[(int)((pc ^ (pc >> 12)) & (ulong)(jumpCache.Length - 1))];
        if (slot is { Invalid: false } hit && hit.Pc == pc && hit.PhysStart == phys && hit.Mode == mode)
        {
            return hit;
        }

        var tb = Cache.Find(phys, pc, mode);
        if (tb is null)
        {
            tb = Cache.Translate(cpu, pc);
            if (Cache.TierUp is { Options: { Threshold: <= 1, Synchronous: true } } eager)
            {
                eager.Promote(tb); // every block on tier 1 from its first run
            }
        }

        slot = tb;
        return tb;
    }
}

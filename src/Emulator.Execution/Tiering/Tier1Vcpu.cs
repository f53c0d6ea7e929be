using Emulator.Backend.Wasm;
using Emulator.Backend.Wasm.Engines;
using Emulator.Backend.Wasm.Lowering;
using Emulator.Ir;
using Emulator.X86;
using Emulator.X86.Helpers;
using Emulator.X86.Memory;

namespace Emulator.Execution.Tiering;

/// <summary>
/// One vCPU's side of tier 1: its engine context (the host functions bound to this vCPU), the
/// instantiation of modules on first use, and the run loop over compiled blocks, which follows
/// direct jumps from block to block while the budget lasts.
/// </summary>
public sealed unsafe class Tier1Vcpu : IDisposable
{
    private readonly Cpu cpu;
    private readonly TierUp tierUp;
    private readonly long stateAddress;

    /// <summary>The modules instantiated in <see cref="context"/>, to forget their entries when it is replaced.</summary>
    private readonly List<Tier1Module> instantiated = [];
    private IWasmVcpu context;

    /// <summary>The module whose instance sits at each index of <see cref="context"/>'s module table: exit codes name modules by that index.</summary>
    private readonly Tier1Module?[] tableModules = new Tier1Module?[Tier1ModuleEmitter.ModuleTableSize];

    /// <summary>This vCPU's jump cache in guest memory (<see cref="JumpCacheEntry"/>), read by compiled code.</summary>
    private readonly byte* jumpCache;
    private int seenEvictionEpoch;

    public Tier1Vcpu(TierUp tierUp, Cpu cpu)
    {
        this.cpu = cpu;
        this.tierUp = tierUp;
        Slot = tierUp.AttachCpu(this);
        stateAddress = (long)(cpu.AreaOffset + VcpuArea.StateOffset);
        jumpCache = (byte*)cpu.State + (VcpuArea.JumpCacheOffset - VcpuArea.StateOffset);
        seenEvictionEpoch = Volatile.Read(ref tierUp.EvictionEpoch);
        FlushJumpCache();
        context = NewContext();
    }

    private IWasmVcpu NewContext() => tierUp.Engine.CreateVcpu(tierUp.Memory, new Tier1Imports(Read, Write, Atomic, Helper));

    /// <summary>This vCPU's index into each block's entry points.</summary>
    public int Slot { get; }

    /// <summary>Entries into compiled code (each runs one block or more).</summary>
    public long ModuleRuns => Figures.Entries;

    /// <summary>This vCPU's tier-1 counters.</summary>
    internal Tier1RunFigures Figures = new();

    /// <summary>This vCPU's run function of <paramref name="module"/>, instantiating the module here on first use; null for a vCPU that joined after it was compiled.</summary>
    private ModuleEntry? EntryOf(Tier1Module module)
    {
        var entries = module.Entries;
        if (Slot >= entries.Length)
        {
            return null;
        }

        if (entries[Slot] is { } entry)
        {
            return entry;
        }

        // Instances of evicted modules stay in a Wasmtime store until it is dropped: when they
        // outnumber the live modules, or the store nears Wasmtime's limit of 10,000 instances,
        // start a new context (live modules are instantiated again as they are next run).
        if (context.InstanceCount >= Math.Min(2 * tierUp.LiveModules + 1024, MaxInstances))
        {
            foreach (var m in instantiated)
            {
                m.Entries[Slot] = null;
            }

            instantiated.Clear();
            Array.Clear(tableModules);
            FlushJumpCache();
            context.Dispose();
            context = NewContext();
            Recycles++;
        }

        instantiated.Add(module);
        entry = context.Instantiate(module.Code, module.Index);
        if (tableModules[module.Index] is not null)
        {
            // The index belonged to an evicted module: no jump may lead to its blocks any more.
            FlushJumpCache();
        }

        tableModules[module.Index] = module;
        return entries[Slot] = entry;
    }

    /// <summary>Set (under the tier-up's vCPU lock) once this vCPU is disposed: its area may be gone.</summary>
    internal bool Detached;

    /// <summary>
    /// Adds this vCPU's module transfer counts since the last call to <paramref name="sums"/> (by
    /// module index) and clears them; nothing once detached. Called under the tier-up's vCPU lock.
    /// </summary>
    internal void TakeModuleTransfers(long[] sums)
    {
        if (Detached)
        {
            return;
        }

        var counts = (int*)((byte*)cpu.State + (VcpuArea.ModuleTransfersOffset - VcpuArea.StateOffset));
        for (int i = 0; i < sums.Length; i++)
        {
            if (counts[i] != 0)
            {
                sums[i] += (uint)Interlocked.Exchange(ref counts[i], 0);
            }
        }
    }

    /// <summary>Empties the jump cache (compiled code then leaves on every jump it cannot chain).</summary>
    private void FlushJumpCache()
    {
        for (int i = 0; i < 1 << VcpuArea.JumpCacheBits; i++)
        {
            *(uint*)(jumpCache + (i << JumpCacheEntry.SizeShift) + JumpCacheEntry.Mode) = JumpCacheEntry.EmptyMode;
        }
    }

    /// <summary>Enters <paramref name="tb"/> (compiled at <paramref name="at"/>, instantiated here) in the jump cache, if it lies in one page.</summary>
    private void Remember(CompiledBlock tb, Tier1Placement at)
    {
        int flag = tb.Tier1Flag;
        if (tb.PhysPage2 != ulong.MaxValue || flag < 0 || tb.Tier1 != at)
        {
            return;
        }

        // Two ways: the pair of entries 2k, 2k + 1 (compiled code probes both). The new block goes
        // to the first, and what the first held moves to the second, unless one of them is this
        // block already.
        int i = JumpCacheEntry.IndexOf(tb.Pc, VcpuArea.JumpCacheBits) & ~1;
        byte* e = jumpCache + (i << JumpCacheEntry.SizeShift);
        byte* other = jumpCache + ((i | 1) << JumpCacheEntry.SizeShift);
        if (Holds(other, tb))
        {
            e = other;
        }
        else if (!Holds(e, tb))
        {
            Buffer.MemoryCopy(e, other, JumpCacheEntry.Size, JumpCacheEntry.Size);
        }

        *(ulong*)(e + JumpCacheEntry.Pc) = tb.Pc;
        *(ulong*)(e + JumpCacheEntry.Phys) = tb.PhysStart;
        *(uint*)(e + JumpCacheEntry.Mode) = tb.Mode.Bits;
        *(int*)(e + JumpCacheEntry.Flag) = flag;
        *(int*)(e + JumpCacheEntry.Module) = at.Module.Index;
        *(int*)(e + JumpCacheEntry.Block) = at.Index;
    }

    private static bool Holds(byte* e, CompiledBlock tb) =>
        *(ulong*)(e + JumpCacheEntry.Pc) == tb.Pc && *(uint*)(e + JumpCacheEntry.Mode) == tb.Mode.Bits;

    /// <summary>Instances one context holds at most (Wasmtime's default store limit is 10,000).</summary>
    private const int MaxInstances = 8192;

    /// <summary>Times this vCPU's engine context was replaced to free instances.</summary>
    public long Recycles;

    /// <summary>
    /// Runs <paramref name="tb"/> on tier 1: its module's run function follows the direct jumps
    /// between blocks of that module inside Wasm; a jump to a compiled block of another module is
    /// followed here, through the chain the dispatcher set up. Returns like the interpreter; on a
    /// direct jump not followed, <paramref name="last"/> and <paramref name="lastSlot"/> say where to chain.
    /// </summary>
    public BlockExit Run(CompiledBlock tb, Tier1Placement at, ref long budget, out CompiledBlock? last, out int lastSlot)
    {
        var s = cpu.State;
        last = null;
        lastSlot = -1;
        int epoch = Volatile.Read(ref tierUp.EvictionEpoch);
        if (epoch != seenEvictionEpoch)
        {
            seenEvictionEpoch = epoch;
            FlushJumpCache();
        }

        while (EntryOf(at.Module) is { } entry)
        {
            Remember(tb, at);
            cpu.RunningBlock = tb;
            ulong before = s->InstructionCount;
            s->InstructionLimit = before + (ulong)budget;
            int code = entry(stateAddress, at.Index);
            long retired = (long)(s->InstructionCount - before);
            budget -= retired;
            Figures.Entries++;
            Figures.Instructions += retired;
            Figures.Exits[code & ExitCode.KindMask]++;
            var left = tableModules[ExitCode.ModuleOf(code)] ?? throw new InvalidOperationException($"tier-1 exit code 0x{code:x} names no module of this vCPU");
            last = left.Blocks[ExitCode.BlockOf(code)];
            lastSlot = ExitCode.SlotOf(code);
            switch (code & ExitCode.KindMask)
            {
                case ExitCode.Jump:
                    var next = last.Chains[lastSlot];
                    if (next is { Invalid: false, Tier1: { } nextAt } && budget > 0 && s->ExitRequest == 0)
                    {
                        tb = next;
                        at = nextAt;
                        continue;
                    }

                    return BlockExit.Jump;
                case ExitCode.Dispatch:
                    return BlockExit.Dispatch;
                default:
                    return BlockExit.Exception;
            }
        }

        // Not instantiable for this vCPU: run the block on tier 0 instead.
        return BlockExit.NotRun;
    }

    private long Read(long address, int size)
    {
        cpu.Read((ulong)address, size, out ulong value);
        return (long)value;
    }

    private void Write(long address, int size, long value) => cpu.Write((ulong)address, size, (ulong)value);

    private long Atomic(long address, int code, long b, long c)
    {
        var (op, type, rmw) = AtomicCode.Decode(code);
        AtomicAccess.Run(cpu, op, type, rmw, (ulong)address, (ulong)b, (ulong)c, out ulong old);
        return (long)old;
    }

    private Func<long, long, long, long, long> Helper(int id)
    {
        var fn = HelperTable.Get(id);
        return (a, b, c, d) => (long)fn(cpu, (ulong)a, (ulong)b, (ulong)c, (ulong)d);
    }

    public void Dispose()
    {
        tierUp.DetachCpu(this);
        context.Dispose();
    }
}

/// <summary>Counts of what compiled code did: entries from the host, guest instructions retired in it, and its exits by <see cref="ExitCode"/> kind.</summary>
public sealed class Tier1RunFigures
{
    public long Entries;
    public long Instructions;
    public readonly long[] Exits = new long[4];

    public long JumpExits => Exits[ExitCode.Jump];

    public long DispatchExits => Exits[ExitCode.Dispatch];

    public long ExceptionExits => Exits[ExitCode.Exception];

    internal void Add(Tier1RunFigures other)
    {
        Entries += other.Entries;
        Instructions += other.Instructions;
        for (int i = 0; i < Exits.Length; i++)
        {
            Exits[i] += other.Exits[i];
        }
    }
}

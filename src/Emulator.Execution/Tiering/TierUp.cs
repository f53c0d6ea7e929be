using System.Collections.Concurrent;
using Emulator.Backend.Wasm;
using Emulator.Backend.Wasm.Engines;
using Emulator.Backend.Wasm.Lowering;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.Execution.Tiering;

/// <summary>A compiled module and the blocks it holds (block i is index i of its run function).</summary>
public sealed class Tier1Module(IWasmModule code, CompiledBlock[] blocks, int cpuSlots, int index)
{
    public IWasmModule Code { get; } = code;

    /// <summary>Its index in every vCPU's module table (unique among live modules).</summary>
    public int Index { get; } = index;

    public CompiledBlock[] Blocks { get; } = blocks;

    /// <summary>Each vCPU's instance's run function (by <see cref="Tier1Vcpu.Slot"/>), made on first use.</summary>
    public ModuleEntry?[] Entries { get; } = new ModuleEntry?[cpuSlots];
}

/// <summary>
/// Where a compiled block sits: its module and its index in the module's run function, published
/// as one object so that no reader pairs a module with an index in another. Compared by reference
/// (a class, not a record: the vCPU compares it on every entry).
/// </summary>
public sealed class Tier1Placement(Tier1Module module, int index)
{
    public Tier1Module Module { get; } = module;

    public int Index { get; } = index;
}

/// <summary>
/// One machine's tier-1 promotion: blocks that ran <see cref="Tier1Options.Threshold"/> times on
/// the interpreter are queued once each, compiled in batches to one Wasm module per batch off
/// the vCPU threads, and published on the block; vCPUs keep interpreting until then. Live
/// compiled blocks are capped: past the cap the oldest modules are evicted and their blocks
/// fall back to tier 0, free to be promoted again.
/// </summary>
public sealed class TierUp : IDisposable
{
    private readonly ConcurrentQueue<CompiledBlock> queue = new();
    private readonly SemaphoreSlim pending = new(0);
    private readonly CancellationTokenSource stop = new();
    private readonly Thread? compiler;
    private readonly Queue<Tier1Module> live = new();
    private readonly object liveGate = new();
    private readonly bool[] flagUsed = new bool[GuestMemory.CodeFlagCount];
    private readonly bool[] moduleIndexUsed = new bool[Tier1ModuleEmitter.ModuleTableSize];
    private int nextModuleIndex;

    /// <summary>EMU_TIER1_DUMP=DIR writes every module there as tier1-N.wasm (for wasm2wat and wasm-validate).</summary>
    private readonly string? dumpDirectory;
    private IWasmMemory? memory;
    private GuestMemory? guestMemory;
    private Tier1Layout? layout;
    private int cpuSlots;
    private int nextFlag;
    private long liveBlocks;

    public TierUp(Tier1Options options)
    {
        Options = options;
        dumpDirectory = Environment.GetEnvironmentVariable("EMU_TIER1_DUMP");
        if (!options.Synchronous)
        {
            compiler = new Thread(CompileLoop) { IsBackground = true, Name = "tier-1 compiler" };
            compiler.Start();
        }
    }

    public Tier1Options Options { get; }

    public IWasmEngine Engine => Options.Engine;

    /// <summary>The machine's memory as the engine sees it (set by <see cref="CreateGuestMemory"/>).</summary>
    public IWasmMemory Memory => memory ?? throw new InvalidOperationException("tier 1 needs its guest memory created by TierUp.CreateGuestMemory");

    private static Tier1Layout LayoutFor(GuestMemory memory, IWasmEngine engine) => new(
        Rip: CpuStateOffsets.Rip,
        InstructionCount: CpuStateOffsets.InstructionCount,
        InstructionLimit: CpuStateOffsets.InstructionLimit,
        ExitRequest: CpuStateOffsets.ExitRequest,
        ExceptionVector: CpuStateOffsets.ExceptionVector,
        ExceptionErrorCode: CpuStateOffsets.ExceptionErrorCode,
        ExceptionAddress: CpuStateOffsets.ExceptionAddress,
        CurrentTbInvalidated: CpuStateOffsets.CurrentTbInvalidated,
        PageShift: GuestMemory.PageShift,
        TlbIndexBits: Tlb.Bits,
        TlbEntryShift: Tlb.EntryShift,
        TlbReadTag: TlbEntry.ReadTagOffset,
        TlbWriteTag: TlbEntry.WriteTagOffset,
        TlbAddend: TlbEntry.AddendOffset,
        TlbFetchTag: TlbEntry.FetchTagOffset,
        CodeFlags: memory.CodeFlagsBase,
        JumpCache: VcpuArea.JumpCacheOffset - VcpuArea.StateOffset,
        JumpCacheBits: VcpuArea.JumpCacheBits,
        FlagsHelper: Emulator.X86.Helpers.CoreHelpers.ComputeFlags.Id,
        CachedState: engine.KeepsRegistersInLocals ? CachedRegisters : null,
        CarryHelper: Emulator.X86.Helpers.CoreHelpers.ComputeCarry.Id,
        CcOp: CpuStateOffsets.CcOp,
        ModuleTransfers: VcpuArea.ModuleTransfersOffset - VcpuArea.StateOffset);

    /// <summary>
    /// What compiled code may keep in locals, on an engine that keeps registers there
    /// (<see cref="IWasmEngine.KeepsRegistersInLocals"/>): the general registers, RFLAGS and the lazy-flags
    /// fields. The softmmu (page walk, MMIO, faults) touches none of them; helpers do, and compiled
    /// code stores them before and reloads them after every helper.
    /// </summary>
    private static readonly int[] CachedRegisters =
    [
        .. Enumerable.Range(0, 16).Select(CpuStateOffsets.GprOffset),
        CpuStateOffsets.Rflags, CpuStateOffsets.CcDst, CpuStateOffsets.CcSrc1, CpuStateOffsets.CcSrc2, CpuStateOffsets.CcOp,
    ];

    // Figures (read by benchmarks and the machine's metrics).

    /// <summary>Blocks queued for compilation (hot, or a hot block's successor), counting a block again each time it is promoted after an eviction.</summary>
    public long Promotions;
    public long CompiledBlocks;
    public long Modules;
    public long CompileTicks;
    public long ModuleBytes;
    public long Evictions;
    public long Failures;

    /// <summary>Modules compiled from the blocks of modules that were hot together, and the modules they replaced.</summary>
    public long Merges;
    public long MergedModules;

    /// <summary>Entries into compiled modules from other modules that the last <see cref="MergeHotModules"/> counted.</summary>
    public long LastScanTransfers { get; private set; }

    /// <summary>Entries into compiled modules from other modules, summed over every <see cref="MergeHotModules"/> scan.</summary>
    public long Transfers;

    /// <summary>Incremented at every eviction: a vCPU that sees it change empties its jump cache before entering compiled code.</summary>
    public int EvictionEpoch;

    public long LiveBlocks => Interlocked.Read(ref liveBlocks);

    /// <summary>Modules compiled and not evicted.</summary>
    public int LiveModules
    {
        get
        {
            lock (liveGate)
            {
                return live.Count;
            }
        }
    }

    /// <summary>Guest memory laid over the engine's linear memory (RAM, then the vCPU areas).</summary>
    public unsafe GuestMemory CreateGuestMemory(ulong ramBytes)
    {
        ulong total = GuestMemory.TotalBytes(ramBytes);
        memory = Engine.CreateMemory(total, is64: total > (4UL << 30));
        var m = memory;
        guestMemory = new GuestMemory(ramBytes, m.Pointer, m.Dispose);
        layout = LayoutFor(guestMemory, Engine);
        return guestMemory;
    }

    /// <summary>The cache whose blocks this promotes (set by the cache), to find the targets of their jumps.</summary>
    internal TranslationCache? Cache { get; set; }

    private readonly List<Tier1Vcpu> vcpus = [];

    /// <summary>A vCPU joins: the slot its per-vCPU entry points use.</summary>
    internal int AttachCpu(Tier1Vcpu vcpu)
    {
        lock (vcpus)
        {
            vcpus.Add(vcpu);
        }

        return Interlocked.Increment(ref cpuSlots) - 1;
    }

    /// <summary>
    /// A vCPU leaves (it is disposed before its CPU and area are): the compiler thread no longer
    /// reads its transfer counters, whose memory goes with the CPU. Its figures still count.
    /// </summary>
    internal void DetachCpu(Tier1Vcpu vcpu)
    {
        lock (vcpus)
        {
            vcpu.Detached = true;
        }
    }

    /// <summary>What the vCPUs did on tier 1, summed (read while they run, the figures are approximate).</summary>
    public Tier1RunFigures RunFigures()
    {
        var sum = new Tier1RunFigures();
        lock (vcpus)
        {
            foreach (var v in vcpus)
            {
                sum.Add(v.Figures);
            }
        }

        return sum;
    }

    /// <summary>Called by the interpreter when a block reaches the threshold (once per block and promotion).</summary>
    public void Promote(CompiledBlock tb)
    {
        if (Interlocked.CompareExchange(ref tb.PromotionState, 1, 0) != 0)
        {
            return;
        }

        Interlocked.Increment(ref Promotions);
        if (Options.Synchronous)
        {
            var batch = new List<CompiledBlock> { tb };
            GrowRegion(batch);
            CompileBatch(batch);
            return;
        }

        queue.Enqueue(tb);
        pending.Release();
    }

    /// <summary>
    /// Compiles <paramref name="blocks"/> (translated, not yet promoted) into one module now, on
    /// the caller's thread: the differential test batches many blocks per module this way.
    /// </summary>
    public void CompileNow(IReadOnlyList<CompiledBlock> blocks)
    {
        var batch = new List<CompiledBlock>();
        foreach (var b in blocks)
        {
            if (Interlocked.CompareExchange(ref b.PromotionState, 1, 0) == 0)
            {
                batch.Add(b);
            }
        }

        if (batch.Count > 0)
        {
            Interlocked.Add(ref Promotions, batch.Count);
            CompileBatch(batch);
        }
    }

    private void CompileLoop()
    {
        var batch = new List<CompiledBlock>();
        long lastScan = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                // Merging waits for an empty queue: new hot blocks come first.
                if (!pending.Wait(MergeInterval, stop.Token))
                {
                    var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(lastScan);
                    if (elapsed >= MergeInterval)
                    {
                        lastScan = System.Diagnostics.Stopwatch.GetTimestamp();
                        MergeHotModules(elapsed.TotalSeconds);
                    }

                    continue;
                }

                batch.Clear();
                if (queue.TryDequeue(out var first))
                {
                    batch.Add(first);
                }

                while (batch.Count < Options.BatchSize && queue.TryDequeue(out var tb))
                {
                    pending.Wait(0);
                    batch.Add(tb);
                }

                batch.RemoveAll(b => b.Invalid);
                GrowRegion(batch);
                if (batch.Count > 0)
                {
                    CompileBatch(batch);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>How often the compiler thread, when it has nothing to compile, looks for modules to merge.</summary>
    private static readonly TimeSpan MergeInterval = TimeSpan.FromMilliseconds(200);

    private readonly long[] moduleTransfers = new long[Tier1ModuleEmitter.ModuleTableSize];
    private HashSet<Tier1Module> hotBefore = [];

    /// <summary>
    /// Reads and clears the vCPUs' module transfer counters, counted over the last
    /// <paramref name="seconds"/>; if two or more live modules were entered from another module at
    /// least <see cref="Tier1Options.MergeTransfersPerSecond"/> times a second, in this scan and
    /// the one before, compiles their blocks
    /// (the hottest modules first, up to <see cref="Tier1Options.MaxMergedBlocks"/>) into one
    /// module that replaces them. Blocks keep their flags; the replaced modules are retired
    /// without sending their blocks back to tier 0. True when it merged.
    /// </summary>
    public bool MergeHotModules(double seconds)
    {
        Array.Clear(moduleTransfers);
        lock (vcpus)
        {
            foreach (var v in vcpus)
            {
                v.TakeModuleTransfers(moduleTransfers);
            }
        }

        LastScanTransfers = moduleTransfers.Sum();
        Interlocked.Add(ref Transfers, LastScanTransfers);
        if (Options.MergeTransfersPerSecond <= 0)
        {
            return false;
        }

        var chosen = new List<Tier1Module>();
        lock (liveGate)
        {
            // Hot in this scan and the one before: a burst is not worth a compile.
            int total = 0;
            double rate = Options.MergeTransfersPerSecond * seconds;
            var hot = live.Where(m => moduleTransfers[m.Index] >= rate).ToHashSet();
            var lasting = hot.Where(hotBefore.Contains).OrderByDescending(m => moduleTransfers[m.Index]).ToList();
            hotBefore = hot;
            foreach (var m in lasting)
            {
                if (total + m.Blocks.Length <= Math.Min(Options.MaxMergedBlocks, ExitCode.MaxBlocks))
                {
                    chosen.Add(m);
                    total += m.Blocks.Length;
                }
            }
        }

        if (chosen.Count < 2)
        {
            return false;
        }

        var blocks = chosen.SelectMany(m => m.Blocks.Where(b => b.Tier1?.Module == m)).ToList();
        return CompileBatch(blocks, chosen);
    }

    /// <summary>
    /// Compiles <paramref name="batch"/> into one module and publishes it. With
    /// <paramref name="replaces"/>, the blocks are those modules' blocks (with their flags), and
    /// the new module takes their place.
    /// </summary>
    private bool CompileBatch(IReadOnlyList<CompiledBlock> batch, IReadOnlyList<Tier1Module>? replaces = null)
    {
        // An exit code names a chain slot in 4 bits: a block with more direct jumps stays on tier 0.
        var blocks = batch.Where(b => b.Chains.Length <= ExitCode.MaxChainSlots).ToList();
        if (blocks.Count == 0)
        {
            return false;
        }

        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        if (replaces is null && !AllocateFlags(blocks))
        {
            Interlocked.Increment(ref Failures);
            LastFailure = $"no free tier-1 block flag (more than {GuestMemory.CodeFlagCount} live blocks)";
            return false;
        }

        int moduleIndex = -1;
        Tier1Module module;
        try
        {
            moduleIndex = AllocateModuleIndex();
            var input = new Tier1Block[blocks.Count];
            for (int i = 0; i < blocks.Count; i++)
            {
                var b = blocks[i];
                int tlb = (b.Mode.Cpl == 3 ? VcpuArea.UserTlbOffset : VcpuArea.SupervisorTlbOffset) - VcpuArea.StateOffset;
                input[i] = new Tier1Block(b.Ops, b.Constants, b.FrameSize, b.InsnPcs, tlb, b.Tier1Flag, ChainTargets(b, blocks), b.Mode.Bits);
            }

            var mem = Memory;
            byte[] wasm = Tier1ModuleEmitter.Emit(input, layout!, mem.Length, mem.Is64, moduleIndex);
            Options.ModuleObserver?.Invoke(wasm);
            if (dumpDirectory is not null)
            {
                File.WriteAllBytes(Path.Combine(dumpDirectory, $"tier1-{Interlocked.Read(ref Modules)}-{Environment.CurrentManagedThreadId}-{wasm.Length}.wasm"), wasm);
            }

            var code = Engine.Compile(wasm);
            module = new Tier1Module(code, [.. blocks], Math.Max(Volatile.Read(ref cpuSlots), 1), moduleIndex);
            Interlocked.Add(ref ModuleBytes, wasm.Length);
        }
        catch (Exception e)
        {
            // A block tier 1 cannot compile stays on tier 0 (PromotionState stays set, so it is not
            // retried): whatever the engine throws, the background thread must not end the process.
            // Synchronous mode is for tests: there a failure is a bug to report at once.
            Interlocked.Increment(ref Failures);
            LastFailure = e.Message;
            lock (liveGate)
            {
                if (replaces is null)
                {
                    FreeFlags(blocks);
                }

                if (moduleIndex >= 0)
                {
                    moduleIndexUsed[moduleIndex] = false;
                }
            }

            if (Options.Synchronous)
            {
                throw;
            }

            return false;
        }

        Interlocked.Add(ref CompileTicks, System.Diagnostics.Stopwatch.GetTimestamp() - start);
        Interlocked.Increment(ref Modules);
        Interlocked.Add(ref CompiledBlocks, blocks.Count);
        for (int i = 0; i < blocks.Count; i++)
        {
            blocks[i].Tier1 = new Tier1Placement(module, i);
        }

        lock (liveGate)
        {
            if (replaces is not null)
            {
                Retire(replaces);
            }

            live.Enqueue(module);
            liveBlocks += blocks.Count;
            if (liveBlocks > Options.MaxLiveBlocks)
            {
                while (liveBlocks > Options.MaxLiveBlocks / 2 && live.Count > 0)
                {
                    Evict(live.Dequeue());
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Takes modules whose blocks a merged module now holds out of the live ones: their indices
    /// are free again, and every vCPU empties its jump cache, whose entries name them. Their
    /// blocks stay compiled (in the merged module) with their flags. Under the live lock.
    /// </summary>
    private void Retire(IReadOnlyList<Tier1Module> modules)
    {
        var kept = live.Where(m => !modules.Contains(m)).ToList();
        live.Clear();
        foreach (var m in kept)
        {
            live.Enqueue(m);
        }

        foreach (var m in modules)
        {
            moduleIndexUsed[m.Index] = false;
            liveBlocks -= m.Blocks.Length;
        }

        Merges++;
        MergedModules += modules.Count;
        Interlocked.Increment(ref EvictionEpoch);
    }

    /// <summary>
    /// Adds to <paramref name="batch"/> the blocks its direct jumps reach in the same page that are
    /// translated and not yet promoted, and theirs, up to the batch size: a hot loop's blocks
    /// then land in one module and chain inside it (the region a hot block belongs to).
    /// </summary>
    private void GrowRegion(List<CompiledBlock> batch)
    {
        if (Cache is not { } cache)
        {
            return;
        }

        for (int i = 0; i < batch.Count && batch.Count < Options.BatchSize; i++)
        {
            var b = batch[i];
            foreach (ref readonly var op in b.Ops.AsSpan())
            {
                if (op.ChainSlot < 0 || batch.Count >= Options.BatchSize || !SamePageTarget(b, op.Imm, out ulong phys))
                {
                    continue;
                }

                if (cache.Find(phys, op.Imm, b.Mode) is { Invalid: false } t && Interlocked.CompareExchange(ref t.PromotionState, 1, 0) == 0)
                {
                    Interlocked.Increment(ref Promotions);
                    batch.Add(t);
                }
            }
        }
    }

    /// <summary>Whether <paramref name="pc"/> is in <paramref name="b"/>'s virtual page, and its physical address there.</summary>
    private static bool SamePageTarget(CompiledBlock b, ulong pc, out ulong phys)
    {
        phys = (b.PhysStart & ~GuestMemory.PageMask) | (pc & GuestMemory.PageMask);
        return (pc & ~GuestMemory.PageMask) == (b.Pc & ~GuestMemory.PageMask);
    }

    /// <summary>
    /// For each chain slot of <paramref name="b"/>: the batch index of the block its direct jump
    /// reaches, when that block is in the batch and the jump may be chained (same mode, same
    /// virtual and physical page, as tier 0 chains), else -1.
    /// </summary>
    private static int[] ChainTargets(CompiledBlock b, IReadOnlyList<CompiledBlock> batch)
    {
        var targets = new int[b.Chains.Length];
        Array.Fill(targets, -1);
        foreach (ref readonly var op in b.Ops.AsSpan())
        {
            if (op.ChainSlot < 0)
            {
                continue;
            }

            for (int j = 0; j < batch.Count; j++)
            {
                var t = batch[j];
                if (t.Pc == op.Imm && t.Mode == b.Mode && ExecutionEngine.SamePage(b, t))
                {
                    targets[op.ChainSlot] = j;
                    break;
                }
            }
        }

        return targets;
    }

    /// <summary>
    /// Gives each block a flag, cleared unless the block is already invalid. A block invalidated
    /// from here on has its flag set by the cache (<see cref="MarkInvalid"/>), so compiled code
    /// never chains into it.
    /// </summary>
    private bool AllocateFlags(IReadOnlyList<CompiledBlock> blocks)
    {
        var mem = guestMemory!;
        lock (liveGate)
        {
            for (int i = 0; i < blocks.Count; i++)
            {
                int flag = -1;
                for (int tries = 0; tries < GuestMemory.CodeFlagCount; tries++)
                {
                    int f = nextFlag;
                    nextFlag = (nextFlag + 1) % GuestMemory.CodeFlagCount;
                    if (!flagUsed[f])
                    {
                        flag = f;
                        break;
                    }
                }

                if (flag < 0)
                {
                    FreeFlags(blocks);
                    return false;
                }

                flagUsed[flag] = true;
                mem.CodeFlag(flag) = 0;
                Volatile.Write(ref blocks[i].Tier1Flag, flag);
                if (blocks[i].Invalid)
                {
                    mem.CodeFlag(flag) = 1;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// A free index in the module table, taken round the table so that an index freed by an
    /// eviction is reused as late as possible.
    /// </summary>
    private int AllocateModuleIndex()
    {
        lock (liveGate)
        {
            for (int tries = 0; tries < moduleIndexUsed.Length; tries++)
            {
                int i = nextModuleIndex;
                nextModuleIndex = (nextModuleIndex + 1) % moduleIndexUsed.Length;
                if (!moduleIndexUsed[i])
                {
                    moduleIndexUsed[i] = true;
                    return i;
                }
            }
        }

        // Live modules are capped far below the table's size (each holds a block at least).
        throw new InvalidOperationException("no free tier-1 module index");
    }

    private void FreeFlags(IReadOnlyList<CompiledBlock> blocks)
    {
        foreach (var b in blocks)
        {
            int flag = b.Tier1Flag;
            if (flag >= 0)
            {
                guestMemory!.CodeFlag(flag) = 1;
                flagUsed[flag] = false;
                b.Tier1Flag = -1;
            }
        }
    }

    /// <summary>The cache invalidated <paramref name="tb"/> (self-modifying code): compiled code must not chain into it any more.</summary>
    public void MarkInvalid(CompiledBlock tb)
    {
        int flag = Volatile.Read(ref tb.Tier1Flag);
        if (flag >= 0)
        {
            Volatile.Write(ref guestMemory!.CodeFlag(flag), 1);
        }
    }

    /// <summary>The message of the last compile failure, for diagnostics.</summary>
    public string? LastFailure { get; private set; }

    private void Evict(Tier1Module module)
    {
        foreach (var b in module.Blocks)
        {
            if (b.Tier1?.Module == module)
            {
                b.Tier1 = null;
                b.Executions = 0;
                Volatile.Write(ref b.PromotionState, 0);
            }
        }

        FreeFlags(module.Blocks);
        moduleIndexUsed[module.Index] = false;
        liveBlocks -= module.Blocks.Length;
        Interlocked.Increment(ref Evictions);
        Interlocked.Increment(ref EvictionEpoch);
    }

    public void Dispose()
    {
        stop.Cancel();
        compiler?.Join();
        stop.Dispose();
        pending.Dispose();
    }
}

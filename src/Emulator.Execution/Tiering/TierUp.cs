using System.Collections.Concurrent;
using Emulator.Backend.Wasm;
using Emulator.Backend.Wasm.Engines;
using Emulator.Backend.Wasm.Lowering;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.Execution.Tiering;

/// <summary>A compiled module and the blocks it holds (block i is export "b{i}").</summary>
public sealed class Tier1Module(IWasmModule code, CompiledBlock[] blocks, long serial)
{
    public IWasmModule Code { get; } = code;

    public CompiledBlock[] Blocks { get; } = blocks;

    /// <summary>Order of compilation: eviction drops the lowest first.</summary>
    public long Serial { get; } = serial;
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
    private IWasmMemory? memory;
    private int cpuSlots;
    private long liveBlocks;
    private long serial;

    public TierUp(Tier1Options options)
    {
        Options = options;
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

    public static Tier1Layout Layout { get; } = new(
        Rip: CpuStateOffsets.Rip,
        InstructionCount: CpuStateOffsets.InstructionCount,
        ExceptionVector: CpuStateOffsets.ExceptionVector,
        ExceptionErrorCode: CpuStateOffsets.ExceptionErrorCode,
        ExceptionAddress: CpuStateOffsets.ExceptionAddress,
        CurrentTbInvalidated: CpuStateOffsets.CurrentTbInvalidated,
        PageShift: GuestMemory.PageShift,
        TlbIndexBits: Tlb.Bits,
        TlbEntryShift: Tlb.EntryShift,
        TlbReadTag: TlbEntry.ReadTagOffset,
        TlbWriteTag: TlbEntry.WriteTagOffset,
        TlbAddend: TlbEntry.AddendOffset);

    // Figures (read by benchmarks and the machine's metrics).
    public long Promotions;
    public long CompiledBlocks;
    public long Modules;
    public long CompileTicks;
    public long ModuleBytes;
    public long Evictions;
    public long Failures;

    public long LiveBlocks => Interlocked.Read(ref liveBlocks);

    /// <summary>Guest memory laid over the engine's linear memory (RAM, then the vCPU areas).</summary>
    public unsafe GuestMemory CreateGuestMemory(ulong ramBytes)
    {
        ulong total = GuestMemory.TotalBytes(ramBytes);
        memory = Engine.CreateMemory(total, is64: total > (4UL << 30));
        var m = memory;
        return new GuestMemory(ramBytes, m.Pointer, m.Dispose);
    }

    /// <summary>A vCPU joins: the slot its per-vCPU entry points use.</summary>
    public int AttachCpu() => Interlocked.Increment(ref cpuSlots) - 1;

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
            CompileBatch([tb]);
            return;
        }

        queue.Enqueue(tb);
        pending.Release();
    }

    private void CompileLoop()
    {
        var batch = new List<CompiledBlock>();
        try
        {
            while (true)
            {
                pending.Wait(stop.Token);
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

    private void CompileBatch(IReadOnlyList<CompiledBlock> blocks)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Tier1Module module;
        try
        {
            var input = new Tier1Block[blocks.Count];
            for (int i = 0; i < blocks.Count; i++)
            {
                var b = blocks[i];
                int tlb = (b.Mode.Cpl == 3 ? VcpuArea.UserTlbOffset : VcpuArea.SupervisorTlbOffset) - VcpuArea.StateOffset;
                input[i] = new Tier1Block(b.Ops, b.Constants, b.FrameSize, b.InsnPcs, tlb);
            }

            var mem = Memory;
            byte[] wasm = Tier1ModuleEmitter.Emit(input, Layout, mem.Length, mem.Is64);
            Options.ModuleObserver?.Invoke(wasm);
            var code = Engine.Compile(wasm);
            module = new Tier1Module(code, [.. blocks], Interlocked.Increment(ref serial));
            Interlocked.Add(ref ModuleBytes, wasm.Length);
        }
        catch (Exception e) when (e is WasmCompileException or InvalidOperationException)
        {
            // A block tier 1 cannot compile stays on tier 0 (PromotionState stays set, so it is not
            // retried). Synchronous mode is for tests: there a failure is a bug to report at once.
            Interlocked.Increment(ref Failures);
            LastFailure = e.Message;
            if (Options.Synchronous)
            {
                throw;
            }

            return;
        }

        Interlocked.Add(ref CompileTicks, System.Diagnostics.Stopwatch.GetTimestamp() - start);
        Interlocked.Increment(ref Modules);
        Interlocked.Add(ref CompiledBlocks, blocks.Count);
        int slots = Math.Max(Volatile.Read(ref cpuSlots), 1);
        for (int i = 0; i < blocks.Count; i++)
        {
            var b = blocks[i];
            b.Tier1Index = i;
            b.Tier1Entries = new BlockEntry?[slots];
            b.Tier1 = module;
        }

        lock (liveGate)
        {
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
    }

    /// <summary>The message of the last compile failure, for diagnostics.</summary>
    public string? LastFailure { get; private set; }

    private void Evict(Tier1Module module)
    {
        foreach (var b in module.Blocks)
        {
            if (b.Tier1 == module)
            {
                b.Tier1 = null;
                b.Tier1Entries = null;
                b.Executions = 0;
                Volatile.Write(ref b.PromotionState, 0);
            }
        }

        liveBlocks -= module.Blocks.Length;
        Interlocked.Increment(ref Evictions);
    }

    public void Dispose()
    {
        stop.Cancel();
        compiler?.Join();
        stop.Dispose();
        pending.Dispose();
    }
}

using Emulator.Execution.Tiering;
using Emulator.Ir;
using Emulator.Ir.Passes;
using Emulator.X86;
using Emulator.X86.Frontend;
using Emulator.X86.Memory;

namespace Emulator.Execution;

/// <summary>
/// Translated blocks, keyed by guest physical pc, virtual pc and CPU mode, with an index by
/// physical page so a write to guest code invalidates exactly the blocks it overlaps
/// (self-modifying code). The virtual pc is part of the key because a block embeds virtual
/// addresses (its fall-through and branch targets): the same physical code reached through two
/// mappings (a kernel's identity map and its high mapping) needs two blocks, as in QEMU.
/// </summary>
public sealed class TranslationCache : ICodeWriteObserver, IDisposable
{
    /// <summary>Blocks the cache holds at most by default (a few hundred MB at worst; a Linux boot translates about 70,000).</summary>
    public const int DefaultMaxBlocks = 131_072;

    /// <param name="tierUp">Tier 1's promotion for this machine, or null for tier 0 alone. The cache owns it.</param>
    /// <param name="maxBlocks">
    /// Blocks held at most: translating one more first drops them all (QEMU's tb_flush when its
    /// code buffer is full), so no guest code, however much it generates, grows the host's memory
    /// without bound.
    /// </param>
    public TranslationCache(TierUp? tierUp = null, int maxBlocks = DefaultMaxBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBlocks, 1);
        MaxBlocks = maxBlocks;
        TierUp = tierUp;
        translator.EnteringCodePage = page =>
        {
            WatchPage(page);
            CodePageWatched?.Invoke(page);
        };
        if (tierUp is not null)
        {
            tierUp.Cache = this;
        }
    }

    /// <summary>Tier 1 (hot blocks compiled to WebAssembly), when on.</summary>
    public TierUp? TierUp { get; }

    public void Dispose() => TierUp?.Dispose();

    private readonly object gate = new();
    private readonly Dictionary<(ulong Phys, ulong Pc, uint Mode), CompiledBlock> blocks = [];
    private readonly Dictionary<ulong, List<CompiledBlock>> byPage = [];
    private readonly List<Cpu> cpus = [];
    private readonly Translator translator = new();
    private readonly IrBlock ir = new();

    /// <summary>Blocks translated so far.</summary>
    public long Translations { get; private set; }

    /// <summary>Blocks dropped because guest code under them was written.</summary>
    public long Invalidations { get; private set; }

    public int MaxBlocks { get; }

    /// <summary>Times the cache was full and dropped every block.</summary>
    public long Flushes { get; private set; }

    public int Count
    {
        get
        {
            lock (gate)
            {
                return blocks.Count;
            }
        }
    }

    public void Attach(Cpu cpu)
    {
        lock (gate)
        {
            cpus.Add(cpu);
        }

        cpu.CodeObserver = this;
    }

    public CompiledBlock? Find(ulong phys, ulong pc, CpuMode mode)
    {
        lock (gate)
        {
            return blocks.GetValueOrDefault((phys, pc, mode.Bits));
        }
    }

    /// <summary>Translates and caches the block at the CPU's current pc (whose fetch translation succeeded).</summary>
    public CompiledBlock Translate(Cpu cpu, ulong pc)
    {
        var mode = cpu.Mode;
        CompiledBlock tb;
        lock (gate)
        {
            var info = translator.Translate(cpu, pc, ir);
            CheckValid("translated");
            Optimizer.Run(ir);
            CheckValid("optimised");
            tb = BlockCompiler.Compile(ir, info, mode);
            Translations++;
            if (info.PhysStart == ulong.MaxValue)
            {
                return tb; // the fetch faulted: the block only raises that fault; not cached
            }

            if (blocks.Count >= MaxBlocks)
            {
                FlushAll(cpu.Memory);
            }

            blocks[(info.PhysStart, pc, mode.Bits)] = tb;
            AddToPage(info.PhysStart & ~GuestMemory.PageMask, tb);
            if (info.PhysPage2 != ulong.MaxValue)
            {
                AddToPage(info.PhysPage2, tb);
            }
        }

        return tb;
    }

    /// <summary>
    /// Drops every block (the cache is full): each is marked invalid, as if its code had been
    /// written, so no vCPU chains or dispatches into it again, tier-1 code included (its flag is
    /// set), and its pages stop being watched for writes until code is translated there again.
    /// A block a vCPU is running finishes; the next lookup translates afresh.
    /// </summary>
    private void FlushAll(GuestMemory memory)
    {
        foreach (var tb in blocks.Values)
        {
            tb.Invalid = true;
            TierUp?.MarkInvalid(tb);
        }

        Invalidations += blocks.Count;
        Flushes++;
        blocks.Clear();
        foreach (ulong page in byPage.Keys)
        {
            memory.ClearCodePage(page);
        }

        byPage.Clear();
    }

    /// <summary>In debug builds every block is validated, before and after the passes.</summary>
    [System.Diagnostics.Conditional("DEBUG")]
    private void CheckValid(string stage)
    {
        var errors = IrValidator.Validate(ir);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"invalid IR ({stage}):\n{string.Join("\n", errors)}\n{IrPrinter.Print(ir, includeDead: true)}");
        }
    }

    private void AddToPage(ulong page, CompiledBlock tb)
    {
        if (!byPage.TryGetValue(page, out var list))
        {
            byPage[page] = list = [];
        }

        list.Add(tb);
        WatchPage(page); // again: a write while the block was translated may have unmarked it
    }

    /// <summary>
    /// Marks a page as holding code and takes every vCPU's write permission for it from its TLB,
    /// so later stores take the slow path and invalidate. Done before the translator reads the
    /// page's bytes (<see cref="Translator.EnteringCodePage"/>): a store that lands after the
    /// bytes were read is then seen (marking after reading left that store's block stale). A store
    /// already under way on another vCPU with its old permission may still land unseen, as on
    /// hardware, where cross-modifying code must serialize (SDM Vol. 3A 8.1.3).
    /// </summary>
    private void WatchPage(ulong page)
    {
        if (cpus.Count > 0 && cpus[0].Memory.MarkCodePage(page))
        {
            foreach (var c in cpus)
            {
                c.RevokeWrites(page);
            }
        }
    }

    /// <summary>For tests: runs (under the cache's lock, on the translating thread) after a page is watched and before its bytes are read.</summary>
    public Action<ulong>? CodePageWatched { get; set; }

    public bool OnCodeWrite(Cpu cpu, ulong physAddr, int size) => InvalidateRange(physAddr, size, cpu);

    /// <summary>
    /// A device wrote guest RAM directly (DMA, a disk read): drops the blocks the range overlaps,
    /// page by page, and unmarks pages left without code.
    /// </summary>
    public void OnDeviceWrite(GuestMemory memory, ulong physAddr, int size)
    {
        for (ulong page = physAddr & ~GuestMemory.PageMask; page < physAddr + (ulong)size; page += GuestMemory.PageSize)
        {
            ulong start = Math.Max(page, physAddr);
            ulong end = Math.Min(page + GuestMemory.PageSize, physAddr + (ulong)size);
            if (memory.IsCodePage(page) && !InvalidateRange(start, (int)(end - start)))
            {
                memory.ClearCodePage(page);
            }
        }
    }

    /// <summary>
    /// Invalidates the blocks overlapping [physAddr, physAddr + size) within one page; true if the
    /// page still holds code. The vCPU whose store did it (<paramref name="writer"/>) is told to
    /// leave its block after the storing instruction: it may be running one of them, and compiled
    /// code chains blocks without telling the host which one runs. Another vCPU is told only if the
    /// block it entered was hit (x86 asks cross-modifying code to serialize anyway; SDM Vol. 3A 8.1.3).
    /// </summary>
    private bool InvalidateRange(ulong physAddr, int size, Cpu? writer = null)
    {
        lock (gate)
        {
            ulong page = physAddr & ~GuestMemory.PageMask;
            if (!byPage.TryGetValue(page, out var list))
            {
                return false;
            }

            for (int i = list.Count - 1; i >= 0; i--)
            {
                var tb = list[i];
                if (!tb.Overlaps(physAddr, size))
                {
                    continue;
                }

                tb.Invalid = true;
                TierUp?.MarkInvalid(tb);
                Invalidations++;
                list.RemoveAt(i);
                blocks.Remove((tb.PhysStart, tb.Pc, tb.Mode.Bits));
                foreach (var c in cpus)
                {
                    if (c == writer || c.RunningBlock == tb)
                    {
                        c.S.CurrentTbInvalidated = 1;
                    }
                }
            }

            if (list.Count == 0)
            {
                byPage.Remove(page);
                return false;
            }

            return true;
        }
    }

    /// <summary>Drops every block (for example after guest RAM is replaced).</summary>
    public void Flush()
    {
        lock (gate)
        {
            foreach (var tb in blocks.Values)
            {
                tb.Invalid = true;
                TierUp?.MarkInvalid(tb);
            }

            blocks.Clear();
            byPage.Clear();
        }
    }
}

using Emulator.Backend.Wasm.Builder;
using Emulator.Ir;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// The locals of a module's run function, which holds all its blocks: the state address, the
/// scratch values of memory accesses, the retired-instruction count, the guest registers the
/// module keeps in locals, and the temps of one block at a time (every block reuses them).
/// <para>
/// A register stays in a local from entry to exit, across the blocks of the module, instead of
/// a load and a store per block: the engine then keeps a hot loop's registers in host registers.
/// The state in memory is brought up to date (spilled) at every exit and before every helper,
/// and the registers are reloaded after a helper (helpers read and write registers). The
/// softmmu's slow paths ("read", "write", "atomic") touch none of these fields, so they need
/// neither (<see cref="Tier1Layout.CachedState"/>).
/// A field is kept in a local only when every state access of the module to its bytes is a
/// whole 64-bit access at its offset, so no narrower access can see a stale value.
/// </para>
/// </summary>
internal sealed class ModuleFrame
{
    /// <summary>The parameters: the state address, the block to run, and whether the caller is another module's trampoline (i32).</summary>
    public const int State = 0;
    public const int BlockIndex = 1;
    public const int Nested = 2;

    /// <summary>The state address (address type), then a TLB or jump-cache entry address.</summary>
    public const int Sta = 3;
    public const int Ent = 4;

    /// <summary>The exit code the function returns (i32), set before branching to the common exit.</summary>
    public const int ExitCode = 5;

    /// <summary>The mode and the TLB offset (i32) of the block that branches to the jump-cache probe.</summary>
    public const int ProbeMode = 6;
    public const int ProbeTlb = 7;

    /// <summary>i64 scratch: a memory access's address or a jump's target, and three values for multi-step ops.</summary>
    public const int La = 8;
    public const int X = 9;
    public const int Y = 10;
    public const int Z = 11;

    /// <summary>The vCPU's retired-instruction count.</summary>
    public const int Retired = 12;

    /// <summary>The retired count at which compiled code returns (the host sets it before each entry; it does not change during one).</summary>
    public const int Limit = 13;

    private const int FirstCached = 14;

    private readonly Dictionary<int, int> cached = [];

    private ModuleFrame(int moduleIndex, List<int> cachedOffsets, HashSet<int> written, int temps)
    {
        ModuleIndex = moduleIndex;
        for (int i = 0; i < cachedOffsets.Count; i++)
        {
            cached[cachedOffsets[i]] = FirstCached + i;
        }

        CachedOffsets = [.. cachedOffsets];
        WrittenOffsets = [.. cachedOffsets.Where(written.Contains)];
        TempBase = FirstCached + cachedOffsets.Count;
        Temps = temps;
    }

    /// <summary>The module's index in the module table (every exit code names it).</summary>
    public int ModuleIndex { get; }

    /// <summary>State fields held in locals, in local order.</summary>
    public int[] CachedOffsets { get; }

    /// <summary>The cached fields some block of the module writes: the ones a spill stores.</summary>
    public int[] WrittenOffsets { get; }

    /// <summary>The local of a block's first temp.</summary>
    public int TempBase { get; }

    public int Temps { get; }

    /// <summary>The scratch locals of lazy-flags code inlined into the run function (<see cref="FlagsFunction.EmitInline"/>).</summary>
    public FlagsFunction.Locals FlagsScratch => FlagsFunction.Locals.From(TempBase + Temps);

    public bool IsCached(int offset, out int local) => cached.TryGetValue(offset, out local);

    public int LocalOf(int offset) => cached[offset];

    public static ModuleFrame For(int moduleIndex, IReadOnlyList<Tier1Block> blocks, Tier1Layout layout)
    {
        var candidates = new HashSet<int>(layout.CachedState ?? []);
        var refused = new HashSet<int>();
        var used = new HashSet<int>();
        var written = new HashSet<int>();
        int temps = 0;
        foreach (var b in blocks)
        {
            temps = Math.Max(temps, b.FrameSize - b.Constants.Length);
            foreach (ref readonly var op in b.Ops.AsSpan())
            {
                if (op.Op is not (IrOpcode.LdState or IrOpcode.StState))
                {
                    continue;
                }

                int offset = (int)op.Imm;
                int size = 1 << (int)op.Type;
                foreach (int f in candidates)
                {
                    if (offset < f + 8 && f < offset + size && (offset != f || op.Type != IrType.I64))
                    {
                        refused.Add(f);
                    }
                }

                if (candidates.Contains(offset))
                {
                    used.Add(offset);
                    if (op.Op == IrOpcode.StState)
                    {
                        written.Add(offset);
                    }
                }
            }
        }

        var kept = used.Where(f => !refused.Contains(f)).Order().ToList();
        return new ModuleFrame(moduleIndex, kept, written, temps);
    }

    /// <summary>The declared locals after the parameters.</summary>
    public WasmType[] Locals(bool is64)
    {
        var address = is64 ? WasmType.I64 : WasmType.I32;
        var locals = new List<WasmType> { address, address, WasmType.I32, WasmType.I32, WasmType.I32 };
        for (int i = La; i < TempBase + Temps + FlagsFunction.Locals.Count; i++)
        {
            locals.Add(WasmType.I64);
        }

        return [.. locals];
    }

    /// <summary>Adds one to the module's transfer counter when another module's trampoline called it, if the layout has counters.</summary>
    public void CountTransfer(CodeWriter c, Tier1Layout layout)
    {
        if (layout.ModuleTransfers < 0)
        {
            return;
        }

        ulong offset = (ulong)layout.ModuleTransfers + 4 * (ulong)ModuleIndex;
        c.LocalGet(Nested);
        c.If();
        c.LocalGet(Sta);
        c.LocalGet(Sta);
        c.Load(LoadKind.I32, offset);
        c.I32Const(1);
        c.I32Add();
        c.Store(StoreKind.I32, offset);
        c.End();
    }

    /// <summary>Loads the instruction limit, once at entry.</summary>
    public static void LoadLimit(CodeWriter c, Tier1Layout layout)
    {
        c.LocalGet(Sta);
        c.Load(LoadKind.I64, (ulong)layout.InstructionLimit);
        c.LocalSet(Limit);
    }

    /// <summary>Loads the retired count and every cached field from the state.</summary>
    public void Load(CodeWriter c, Tier1Layout layout)
    {
        c.LocalGet(Sta);
        c.Load(LoadKind.I64, (ulong)layout.InstructionCount);
        c.LocalSet(Retired);
        foreach (int f in CachedOffsets)
        {
            c.LocalGet(Sta);
            c.Load(LoadKind.I64, (ulong)f);
            c.LocalSet(cached[f]);
        }
    }

    /// <summary>Stores the retired count and every written cached field to the state.</summary>
    public void Spill(CodeWriter c, Tier1Layout layout)
    {
        c.LocalGet(Sta);
        c.LocalGet(Retired);
        c.Store(StoreKind.I64, (ulong)layout.InstructionCount);
        foreach (int f in WrittenOffsets)
        {
            c.LocalGet(Sta);
            c.LocalGet(cached[f]);
            c.Store(StoreKind.I64, (ulong)f);
        }
    }
}

using Emulator.Backend.Wasm.Builder;
using Emulator.Ir;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// Lowers one block's ops into its case of a module's run function (<see cref="Tier1ModuleEmitter"/>).
/// Every IR value is an i64 holding the zero-extended value, as in tier 0; a frame slot that is
/// a temp becomes a local, a constant slot an <c>i64.const</c>, and a register the module keeps
/// in a local (<see cref="ModuleFrame"/>) is read and written there. The meaning of each op is
/// <see cref="IrEval"/>'s: this file spells the same functions in Wasm instructions.
/// </summary>
internal sealed partial class BlockLowering
{
    private readonly WasmModuleBuilder module;
    private readonly Tier1Layout layout;
    private readonly ModuleFrame frame;
    private readonly Tier1Block block;
    private readonly IReadOnlyList<Tier1Block> moduleBlocks;
    private readonly int index;
    private readonly int flagsFunction;
    private readonly ModuleLabels labels;
    private readonly int dispatchLabel;
    private readonly int exitLabel;
    private readonly int probeLabel;
    private readonly int moduleIndex;
    private readonly bool is64;
    private readonly CodeWriter c;
    private readonly int constCount;
    private readonly ulong[] ccOpGuesses;

    /// <summary>Frame slots that hold cc_op as the block was entered with (read before the block set it).</summary>
    private readonly HashSet<int> entryCcOp = [];
    private bool ccOpChanged;

    private const int la = ModuleFrame.La;
    private const int x = ModuleFrame.X;
    private const int y = ModuleFrame.Y;
    private const int z = ModuleFrame.Z;
    private const int sta = ModuleFrame.Sta;
    private const int ent = ModuleFrame.Ent;

    private BlockLowering(CodeWriter c, ModuleFrame frame, WasmModuleBuilder module, Tier1Layout layout, IReadOnlyList<Tier1Block> blocks, int index, int flagsFunction, ModuleLabels labels, ulong[] ccOpGuesses, bool is64)
    {
        this.ccOpGuesses = ccOpGuesses;
        this.c = c;
        this.labels = labels;
        exitLabel = labels.Exit;
        probeLabel = labels.Probe;
        dispatchLabel = labels.Dispatch;
        moduleIndex = frame.ModuleIndex;
        this.frame = frame;
        this.flagsFunction = flagsFunction;
        this.module = module;
        this.layout = layout;
        moduleBlocks = blocks;
        this.index = index;
        block = blocks[index];
        this.is64 = is64;
        constCount = block.Constants.Length;
    }

    private WasmType AddressType => is64 ? WasmType.I64 : WasmType.I32;

    private static readonly WasmType[] ReadParams = [WasmType.I64, WasmType.I32];
    private static readonly WasmType[] WriteParams = [WasmType.I64, WasmType.I32, WasmType.I64];
    private static readonly WasmType[] AtomicParams = [WasmType.I64, WasmType.I32, WasmType.I64, WasmType.I64];
    private static readonly WasmType[] HelperParams = [WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64];
    private static readonly WasmType[] I64Result = [WasmType.I64];

    /// <summary>
    /// Declares every function the blocks may import, before any function is defined, so the
    /// indices of defined functions (imports come first) are final while bodies are written.
    /// Returns whether a block calls the lazy-flags helper.
    /// </summary>
    public static bool DeclareImports(WasmModuleBuilder module, Tier1Layout layout, IReadOnlyList<Tier1Block> blocks)
    {
        module.ImportFunction("emu", "read", ReadParams, I64Result);
        module.ImportFunction("emu", "write", WriteParams, []);
        module.ImportFunction("emu", "atomic", AtomicParams, I64Result);
        bool flags = false;
        foreach (var b in blocks)
        {
            foreach (ref readonly var op in b.Ops.AsSpan())
            {
                if (op.Op != IrOpcode.Call)
                {
                    continue;
                }

                if (IsFlagsHelper((int)op.Imm, layout))
                {
                    flags = true;
                }
                else
                {
                    module.ImportFunction("emu", "h" + op.Imm, HelperParams, I64Result);
                }
            }
        }

        return flags;
    }

    private static bool IsFlagsHelper(int id, Tier1Layout layout) => id >= 0 && (id == layout.FlagsHelper || id == layout.CarryHelper);

    /// <summary>
    /// Writes the code of block <paramref name="index"/> of <paramref name="blocks"/> to
    /// <paramref name="c"/>, inside the run function whose labels are <paramref name="labels"/>:
    /// its dispatch loop (branching there with the block index in its local runs that block
    /// next), its jump-cache probe (<see cref="EmitProbe"/>), its common exit (spill the
    /// registers, return the exit code local) and the cases of its blocks;
    /// <paramref name="flagsFunction"/> is the module's lazy-flags function, or -1. Every path of
    /// the code ends in a branch. <paramref name="ccOpGuesses"/> are the cc_op values the block
    /// is likely entered with (<see cref="CcOpGuesses"/>).
    /// </summary>
    public static void Lower(CodeWriter c, ModuleFrame frame, WasmModuleBuilder module, Tier1Layout layout, IReadOnlyList<Tier1Block> blocks, int index, int flagsFunction, ModuleLabels labels, ulong[] ccOpGuesses, bool is64)
    {
        var l = new BlockLowering(c, frame, module, layout, blocks, index, flagsFunction, labels, ccOpGuesses, is64);
        foreach (ref readonly var op in l.block.Ops.AsSpan())
        {
            l.Emit(in op);
        }

        // Every block ends with an op that leaves it; this keeps the next case from being reached by falling through.
        c.Unreachable();
    }

    private void Emit(in MicroOp op)
    {
        switch (op.Op)
        {
            case IrOpcode.Const:
                c.I64Const(op.Imm);
                SetDest(in op);
                break;
            case IrOpcode.LdState:
                if (frame.IsCached((int)op.Imm, out int register))
                {
                    c.LocalGet(register);
                }
                else
                {
                    c.LocalGet(sta);
                    c.Load(LoadOf(op.Type), op.Imm);
                }

                SetDest(in op);
                if ((int)op.Imm == layout.CcOp && op.Type == IrType.I64 && !ccOpChanged && op.Dest >= constCount)
                {
                    entryCcOp.Add(op.Dest);
                }

                break;
            case IrOpcode.StState:
                ccOpChanged |= (int)op.Imm == layout.CcOp;
                if (frame.IsCached((int)op.Imm, out register))
                {
                    Get(op.A);
                    c.LocalSet(register);
                }
                else
                {
                    c.LocalGet(sta);
                    Get(op.A);
                    c.Store(StoreOf(op.Type), op.Imm);
                }

                break;
            case IrOpcode.Load:
                EmitLoad(in op);
                break;
            case IrOpcode.Store:
                EmitStore(in op);
                break;
            case IrOpcode.AtomicRmw:
            case IrOpcode.AtomicCas:
                EmitAtomic(in op);
                break;
            case IrOpcode.Call when IsFlagsHelper((int)op.Imm, layout) && flagsFunction >= 0:
                EmitFlags(in op);
                break;
            case IrOpcode.Call:
            {
                var info = HelperRegistry.Get((int)op.Imm);
                ccOpChanged |= info.GeneralState && (info.Effects & OpFlags.WritesState) != 0;
                int args = info.Args;
                int[] slots = [op.A, op.B, op.C, op.D];
                for (int i = 0; i < 4; i++)
                {
                    if (i < args) Get(slots[i]); else c.I64Const(0);
                }

                // A helper that may read and write registers gets the state brought up to date
                // before it, and the cached registers are read again after it; one that reaches
                // none of them (pure, vector or exception state only) needs neither.
                if (info.GeneralState) frame.Spill(c, layout);
                c.Call(module.ImportFunction("emu", "h" + op.Imm, HelperParams, I64Result));
                if (info.GeneralState) frame.Load(c, layout);

                SetDest(in op);
                if (op.CheckFault)
                {
                    FaultCheck(op.Insn);
                }

                break;
            }

            case IrOpcode.ExitIf:
                Get(op.A);
                c.I64Const(0);
                c.I64Ne();
                c.If();
                Jump(op.Insn + 1, op.Imm, op.ChainSlot);
                c.End();
                break;
            case IrOpcode.RetryIf:
                Get(op.A);
                c.I64Const(0);
                c.I64Ne();
                c.If();
                Leave(op.Insn, block.InsnPcs[op.Insn], ExitCode.Of(ExitCode.Dispatch, moduleIndex, index));
                c.End();
                break;
            case IrOpcode.Goto:
                Jump(op.Insn + 1, op.Imm, op.ChainSlot);
                break;
            case IrOpcode.GotoIndirect:
                AddRetired(op.Insn + 1);
                Get(op.A);
                c.LocalSet(la);
                Probe(ExitCode.Of(ExitCode.Dispatch, moduleIndex, index));
                break;

            case IrOpcode.Exit:
                Leave(op.Insn + 1, op.Imm, ExitCode.Of(ExitCode.Dispatch, moduleIndex, index));
                break;
            case IrOpcode.SmcCheck:
                // A store invalidated this block (self-modifying code): leave after this instruction.
                c.LocalGet(sta);
                c.Load(LoadKind.I32, (ulong)layout.CurrentTbInvalidated);
                c.If();
                c.LocalGet(sta);
                c.I32Const(0);
                c.Store(StoreKind.I32, (ulong)layout.CurrentTbInvalidated);
                Leave(op.Insn + 1, op.Imm, ExitCode.Of(ExitCode.Dispatch, moduleIndex, index));
                c.End();
                break;
            case IrOpcode.Raise:
                RaiseAt(op.Insn, (int)op.Imm, op.A);
                break;
            case IrOpcode.FaultIf:
                Get(op.A);
                c.I64Const(0);
                c.I64Ne();
                c.If();
                RaiseAt(op.Insn, (int)op.Imm, op.B);
                c.End();
                break;
            default:
                EmitPure(in op);
                break;
        }
    }

    /// <summary>
    /// A lazy-flags helper (all flags, or CF alone): inline when cc_op is a constant; when it is
    /// the value the block was entered with, inline for each of the block's guesses behind a
    /// compare (<see cref="CcOpGuesses"/>); otherwise the module's flags function.
    /// </summary>
    private void EmitFlags(in MicroOp op)
    {
        bool carryOnly = (int)op.Imm == layout.CarryHelper;
        int ccOp = op.A, dst = op.B, src1 = op.C, src2 = op.D;
        if (ccOp < constCount)
        {
            FlagsFunction.EmitInline(c, frame.FlagsScratch, block.Constants[ccOp], carryOnly, () => Get(dst), () => Get(src1), () => Get(src2));
        }
        else
        {
            FlagsGuessed(entryCcOp.Contains(ccOp) ? ccOpGuesses : [], 0);
        }

        SetDest(in op);

        void FlagsGuessed(ulong[] guesses, int g)
        {
            if (g == guesses.Length)
            {
                Get(ccOp);
                Get(dst);
                Get(src1);
                Get(src2);
                c.Call(flagsFunction);
                if (carryOnly)
                {
                    c.I64Const(1);
                    c.I64And();
                }

                return;
            }

            Get(ccOp);
            c.I64Const(guesses[g]);
            c.I64Eq();
            c.IfResult(WasmType.I64);
            FlagsFunction.EmitInline(c, frame.FlagsScratch, guesses[g], carryOnly, () => Get(dst), () => Get(src1), () => Get(src2));
            c.Else();
            FlagsGuessed(guesses, g + 1);
            c.End();
        }
    }

    /// <summary>
    /// A guest load. The TLB fast path is inlined; the slow path is the host's softmmu read:
    /// <code>
    /// e = tlb[(la >> 12) &amp; 255]
    /// if (e.read_tag == ((la + size - 1) &amp; ~0xfff))   // same page, readable, and not crossing it
    ///     value = ram[la + e.addend]
    /// else
    ///     value = read(la, size)                     // page walk, MMIO, page-crossing; may fault
    ///     if (state.exception_vector >= 0) leave with the fault
    /// </code>
    /// </summary>
    private void EmitLoad(in MicroOp op)
    {
        int size = 1 << (int)op.Type;
        TlbProbe(op.A, size, layout.TlbReadTag);
        c.IfResult(WasmType.I64);
        HostAddress();
        c.Load(LoadOf(op.Type), 0);
        c.Else();
        c.LocalGet(la);
        c.I32Const(size);
        c.Call(module.ImportFunction("emu", "read", ReadParams, I64Result));
        FaultCheck(op.Insn);
        c.End();
        SetDest(in op);
    }

    /// <summary>A guest store: as <see cref="EmitLoad"/> with the write tag (absent on pages that hold translated code, so such stores reach the host and invalidate it).</summary>
    private void EmitStore(in MicroOp op)
    {
        int size = 1 << (int)op.Type;
        TlbProbe(op.A, size, layout.TlbWriteTag);
        c.If();
        HostAddress();
        Get(op.B);
        c.Store(StoreOf(op.Type), 0);
        c.Else();
        c.LocalGet(la);
        c.I32Const(size);
        Get(op.B);
        c.Call(module.ImportFunction("emu", "write", WriteParams, []));
        FaultCheck(op.Insn);
        c.End();
    }

    /// <summary>
    /// A LOCK-prefixed access. An aligned access to a writable RAM page the TLB maps (no
    /// translated code on it: such pages have no write tag) is one Wasm atomic on the shared
    /// memory, so it is atomic against every vCPU; anything else (unaligned, which Wasm atomics
    /// refuse, page-crossing, MMIO, a fault) goes to the host's <c>atomic</c>:
    /// <code>
    /// e = tlb[(la >> 12) &amp; 255]
    /// if (e.write_tag == ((la + size - 1) &amp; ~0xfff) &amp;&amp; (la &amp; (size - 1)) == 0)
    ///     old = atomic_rmw_op(ram + la + e.addend, b)          // or cmpxchg(.., b, c)
    /// else
    ///     old = atomic(la, op, b, c); leave on a fault
    /// </code>
    /// </summary>
    private void EmitAtomic(in MicroOp op)
    {
        int size = 1 << (int)op.Type;
        bool cas = op.Op == IrOpcode.AtomicCas;
        TlbProbe(op.A, size, layout.TlbWriteTag);
        if (size > 1)
        {
            c.LocalGet(la);
            c.I64Const(size - 1);
            c.I64And();
            c.I64Eqz();
            c.I32And();
        }

        c.IfResult(WasmType.I64);
        HostAddress();
        Get(op.B);
        if (cas) Get(op.C);
        // The threads proposal's i64 forms: groups of seven opcodes from add (0x1e) to cmpxchg
        // (0x48): i32, i64, i32 8u, i32 16u, i64 8u, i64 16u, i64 32u.
        int group = cas ? 0x48 : (AtomicOp)op.Imm switch
        {
            AtomicOp.Add => 0x1e,
            AtomicOp.And => 0x2c,
            AtomicOp.Or => 0x33,
            AtomicOp.Xor => 0x3a,
            _ => 0x41,
        };
        int form = size switch { 1 => 4, 2 => 5, 4 => 6, _ => 1 };
        c.Atomic(group + form, (int)op.Type, 0);
        c.Else();
        c.LocalGet(la);
        c.I32Const(AtomicCode.Of(op.Op, op.Type, (AtomicOp)op.Imm));
        Get(op.B);
        if (cas) Get(op.C); else c.I64Const(0);
        c.Call(module.ImportFunction("emu", "atomic", AtomicParams, I64Result));
        FaultCheck(op.Insn);
        c.End();
        SetDest(in op);
    }

    /// <summary>Sets la and ent, and leaves on the stack whether the entry's tag matches the access's last byte's page.</summary>
    private void TlbProbe(int address, int size, int tagOffset)
    {
        Get(address);
        c.LocalSet(la);
        TlbEntryOffset(c, layout);
        ToAddress();
        c.LocalGet(sta);
        AddAddress();
        c.LocalTee(ent);
        c.Load(LoadKind.I64, (ulong)(block.TlbOffset + tagOffset));
        c.LocalGet(la);
        if (size > 1)
        {
            c.I64Const(size - 1);
            c.I64Add();
        }

        c.I64Const(~((1L << layout.PageShift) - 1));
        c.I64And();
        c.I64Eq();
    }

    /// <summary>Pushes the Wasm address of la through the entry just probed: la + addend.</summary>
    private void HostAddress()
    {
        c.LocalGet(la);
        c.LocalGet(ent);
        c.Load(LoadKind.I64, (ulong)(block.TlbOffset + layout.TlbAddend));
        c.I64Add();
        ToAddress();
    }

    /// <summary>After a host call that may fault: leave if it recorded a guest exception.</summary>
    private void FaultCheck(int insn)
    {
        c.LocalGet(sta);
        c.Load(LoadKind.I32, (ulong)layout.ExceptionVector);
        c.I32Const(0);
        c.I32GeS();
        c.If();
        FaultExit(insn);
        c.End();
    }

    /// <summary>Raises guest exception <paramref name="vector"/> with the error code in frame slot <paramref name="errorCode"/> at instruction <paramref name="insn"/>.</summary>
    private void RaiseAt(int insn, int vector, int errorCode)
    {
        c.LocalGet(sta);
        c.I32Const(vector);
        c.Store(StoreKind.I32, (ulong)layout.ExceptionVector);
        c.LocalGet(sta);
        Get(errorCode);
        c.Store(StoreKind.I64B32, (ulong)layout.ExceptionErrorCode);
        c.LocalGet(sta);
        c.I64Const(0);
        c.Store(StoreKind.I64, (ulong)layout.ExceptionAddress);
        FaultExit(insn);
    }

    /// <summary>A guest exception at instruction <paramref name="insn"/>: the ones before it retire and RIP points at it.</summary>
    private void FaultExit(int insn)
    {
        c.LocalGet(sta);
        c.I32Const(0);
        c.Store(StoreKind.I32, (ulong)layout.CurrentTbInvalidated);
        Leave(insn, block.InsnPcs[insn], ExitCode.Of(ExitCode.Exception, moduleIndex, index));
    }

    /// <summary>Sets RIP to <paramref name="rip"/>, retires <paramref name="retired"/> instructions and returns <paramref name="code"/>.</summary>
    private void Leave(int retired, ulong rip, int code)
    {
        c.LocalGet(sta);
        c.I64Const(rip);
        c.Store(StoreKind.I64, (ulong)layout.Rip);
        Retire(retired, code);
    }

    /// <summary>
    /// A direct jump through chain slot <paramref name="slot"/>. When the target is a block of
    /// this module the jump stays in the run function (<see cref="ModuleLabels"/>) as long as the
    /// target is still valid, and, on a jump to itself or backward, the budget lasts and no exit
    /// is requested:
    /// <code>
    /// retired += n
    /// forward:              if (flags[target.flag] == 0) goto target
    /// to itself, backward:  if (flags[target.flag] == 0 &amp;&amp; retired &lt; limit &amp;&amp; exit_request == 0) goto target
    /// probe the jump cache for pc, else leave with jump(this block, slot)
    /// </code>
    /// A forward path ends at a back edge, a self jump or an exit, so every loop still sees the
    /// budget and exit requests, and a forward chain overruns the budget by at most the module's
    /// blocks.
    /// </summary>
    private void Jump(int retired, ulong rip, int slot)
    {
        AddRetired(retired);
        int target = slot < block.ChainTargets.Length ? block.ChainTargets[slot] : -1;
        if (target >= 0)
        {
            bool forward = labels.IsForward(index, target);
            PushAddress(layout.CodeFlags + (ulong)moduleBlocks[target].Flag);
            c.Load(LoadKind.I32U8, 0);
            c.I32Eqz();
            if (!forward)
            {
                MayContinue();
                c.I32And();
            }

            c.If();
            if (forward)
            {
                c.BrTo(labels.CaseLabel(labels.PositionOf(target)));
            }
            else if (target == index)
            {
                c.BrTo(labels.SelfLoop);
            }
            else
            {
                c.I32Const(target);
                c.LocalSet(ModuleFrame.BlockIndex);
                c.BrTo(dispatchLabel);
            }

            c.End();
        }

        c.I64Const(rip);
        c.LocalSet(la);
        Probe(ExitCode.Of(ExitCode.Jump, moduleIndex, index, slot));
    }

    /// <summary>Pushes whether compiled code may go on to another block: budget left and no exit requested.</summary>
    private void MayContinue() => MayContinue(c, layout);

    private static void MayContinue(CodeWriter c, Tier1Layout layout)
    {
        c.LocalGet(ModuleFrame.Retired);
        c.LocalGet(ModuleFrame.Limit);
        c.I64LtU();
        c.LocalGet(sta);
        c.Load(LoadKind.I32, (ulong)layout.ExitRequest);
        c.I32Eqz();
        c.I32And();
    }

    /// <summary>
    /// A jump to the pc in <c>la</c>: branches to the module's jump-cache probe
    /// (<see cref="EmitProbe"/>) with this block's mode and TLB, which continues at the target
    /// or leaves with <paramref name="code"/>.
    /// </summary>
    private void Probe(int code)
    {
        c.I32Const(code);
        c.LocalSet(ModuleFrame.ExitCode);
        c.I32Const((int)block.Mode);
        c.LocalSet(ModuleFrame.ProbeMode);
        c.I32Const(block.TlbOffset);
        c.LocalSet(ModuleFrame.ProbeTlb);
        c.BrTo(probeLabel);
    }

    /// <summary>
    /// The jump-cache probe of a module, written once after its blocks: a jump to the pc in
    /// <c>la</c> from a block in the mode and with the TLB the probe locals name (RIP is not set
    /// yet) may continue in a compiled block the vCPU's jump cache holds (QEMU's
    /// lookup_and_goto_ptr): one of this module continues the dispatch loop, one of another
    /// module leaves with <see cref="ExitCode.Transfer"/> for the trampoline. Otherwise it
    /// leaves with the exit code the block set.
    /// <code>
    /// rip = pc
    /// i = ((pc * 0x9e3779b97f4a7c15) >> (64 - bits)) &amp; ~1
    /// e = jump_cache[i]; if (e.pc != pc || e.mode != mode) e = jump_cache[i | 1]
    /// if (e.pc == pc &amp;&amp; e.mode == mode)
    ///   t = tlb[(pc >> 12) &amp; 255]
    ///   if (flags[e.flag] == 0 &amp;&amp; budget and no exit request &amp;&amp; t.fetch_tag == page(pc) &amp;&amp; pc + t.addend == e.phys)
    ///     if (e.module == THIS) { block = e.block; continue dispatch } else code = transfer(e.module, e.block)
    /// leave
    /// </code>
    /// </summary>
    public static void EmitProbe(CodeWriter c, Tier1Layout layout, bool is64, int moduleIndex, int dispatchLabel, int exitLabel)
    {
        int jc = layout.JumpCache;
        void Address() => ToAddress(c, is64);
        void Add() => AddAddress(c, is64);

        // Pushes whether ent holds pc in the probing block's mode.
        void EntryHolds()
        {
            c.LocalGet(ent);
            c.Load(LoadKind.I64, (ulong)(jc + JumpCacheEntry.Pc));
            c.LocalGet(la);
            c.I64Eq();
            c.LocalGet(ent);
            c.Load(LoadKind.I32, (ulong)(jc + JumpCacheEntry.Mode));
            c.LocalGet(ModuleFrame.ProbeMode);
            c.I32Eq();
            c.I32And();
        }

        // ent = state + (index on the stack) * entry size
        void EntryAt()
        {
            c.I64Const(JumpCacheEntry.SizeShift);
            c.I64Shl();
            Address();
            c.LocalGet(sta);
            Add();
            c.LocalSet(ent);
        }

        c.LocalGet(sta);
        c.LocalGet(la);
        c.Store(StoreKind.I64, (ulong)layout.Rip);
        c.LocalGet(la);
        c.I64Const(JumpCacheEntry.HashMultiplier);
        c.I64Mul();
        c.I64Const(64 - layout.JumpCacheBits);
        c.I64ShrU();
        c.I64Const(-2);
        c.I64And();
        c.LocalTee(x);
        EntryAt();

        // Two ways: the pair's second entry when the first does not hold pc in this mode.
        EntryHolds();
        c.I32Eqz();
        c.If();
        c.LocalGet(x);
        c.I64Const(1);
        c.I64Or();
        EntryAt();
        c.End();

        EntryHolds();
        c.If();

        // x = the address of the fetch TLB entry: state + tlb + ((pc >> 12) & 255) * 32
        TlbEntryOffset(c, layout);
        c.LocalGet(ModuleFrame.ProbeTlb);
        c.I64ExtendI32U();
        c.I64Add();
        c.LocalGet(ModuleFrame.State);
        c.I64Add();
        c.LocalSet(x);

        if (is64) c.I64Const((long)layout.CodeFlags); else c.I32Const((int)(uint)layout.CodeFlags);
        c.LocalGet(ent);
        c.Load(LoadKind.I32, (ulong)(jc + JumpCacheEntry.Flag));
        c.I32Const(0xffff);
        c.I32And();
        if (is64) c.I64ExtendI32U();
        Add();
        c.Load(LoadKind.I32U8, 0);
        c.I32Eqz();
        MayContinue(c, layout);
        c.I32And();
        c.LocalGet(x);
        Address();
        c.Load(LoadKind.I64, (ulong)layout.TlbFetchTag);
        c.LocalGet(la);
        c.I64Const(~((1L << layout.PageShift) - 1));
        c.I64And();
        c.I64Eq();
        c.I32And();
        c.LocalGet(la);
        c.LocalGet(x);
        Address();
        c.Load(LoadKind.I64, (ulong)layout.TlbAddend);
        c.I64Add();
        c.LocalGet(ent);
        c.Load(LoadKind.I64, (ulong)(jc + JumpCacheEntry.Phys));
        c.I64Eq();
        c.I32And();
        c.If();
        c.LocalGet(ent);
        c.Load(LoadKind.I32, (ulong)(jc + JumpCacheEntry.Module));
        c.I32Const(moduleIndex);
        c.I32Eq();
        c.If();
        c.LocalGet(ent);
        c.Load(LoadKind.I32, (ulong)(jc + JumpCacheEntry.Block));
        c.LocalSet(ModuleFrame.BlockIndex);
        c.BrTo(dispatchLabel);
        c.End();
        c.LocalGet(ent);
        c.Load(LoadKind.I32, (ulong)(jc + JumpCacheEntry.Block));
        c.I32Const(6);
        c.I32Shl();
        c.LocalGet(ent);
        c.Load(LoadKind.I32, (ulong)(jc + JumpCacheEntry.Module));
        c.I32Const(18);
        c.I32Shl();
        c.I32Or();
        c.I32Const(ExitCode.Transfer);
        c.I32Or();
        c.LocalSet(ModuleFrame.ExitCode);
        c.End();
        c.End();
        c.BrTo(exitLabel);
    }

    /// <summary>Retires <paramref name="retired"/> instructions and leaves through the common exit with <paramref name="code"/> (RIP is set).</summary>
    private void Retire(int retired, int code)
    {
        AddRetired(retired);
        c.I32Const(code);
        c.LocalSet(ModuleFrame.ExitCode);
        c.BrTo(exitLabel);
    }

    private void AddRetired(int retired)
    {
        if (retired > 0)
        {
            c.LocalGet(ModuleFrame.Retired);
            c.I64Const(retired);
            c.I64Add();
            c.LocalSet(ModuleFrame.Retired);
        }
    }

    /// <summary>Pushes an absolute Wasm address.</summary>
    private void PushAddress(ulong address)
    {
        if (is64) c.I64Const(address); else c.I32Const((int)(uint)address);
    }

    /// <summary>Pushes a frame slot's value.</summary>
    private void Get(int slot)
    {
        if (slot < constCount)
        {
            c.I64Const(block.Constants[slot]);
        }
        else
        {
            c.LocalGet(frame.TempBase + slot - constCount);
        }
    }

    /// <summary>Pops the op's result into its temp (a result nobody keeps is dropped).</summary>
    private void SetDest(in MicroOp op)
    {
        entryCcOp.Remove(op.Dest);
        if (op.Dest < constCount)
        {
            c.Drop();
        }
        else
        {
            c.LocalSet(frame.TempBase + op.Dest - constCount);
        }
    }

    /// <summary>An i64 on the stack becomes an address of the memory's type.</summary>
    private void ToAddress() => ToAddress(c, is64);

    private static void ToAddress(CodeWriter c, bool is64)
    {
        if (!is64) c.I32WrapI64();
    }

    private void AddAddress() => AddAddress(c, is64);

    private static void AddAddress(CodeWriter c, bool is64)
    {
        if (is64) c.I64Add(); else c.I32Add();
    }

    /// <summary>Pushes the offset in a TLB of the entry for the linear address in <c>la</c> (i64).</summary>
    private static void TlbEntryOffset(CodeWriter c, Tier1Layout layout)
    {
        c.LocalGet(la);
        c.I64Const(layout.PageShift);
        c.I64ShrU();
        c.I64Const((1L << layout.TlbIndexBits) - 1);
        c.I64And();
        c.I64Const(layout.TlbEntryShift);
        c.I64Shl();
    }

    private static LoadKind LoadOf(IrType t) => t switch
    {
        IrType.I8 => LoadKind.I64U8,
        IrType.I16 => LoadKind.I64U16,
        IrType.I32 => LoadKind.I64U32,
        _ => LoadKind.I64,
    };

    private static StoreKind StoreOf(IrType t) => t switch
    {
        IrType.I8 => StoreKind.I64B8,
        IrType.I16 => StoreKind.I64B16,
        IrType.I32 => StoreKind.I64B32,
        _ => StoreKind.I64,
    };
}

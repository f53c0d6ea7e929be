using Emulator.Backend.Wasm.Builder;
using Emulator.Backend.Wasm.Lowering;

namespace Emulator.Backend.Wasm;

/// <summary>
/// Turns a batch of hot blocks into one WebAssembly module: it imports the machine's shared
/// memory ("emu"."mem": guest RAM at 0, vCPU areas and block flags after it), the vCPU's module
/// table ("emu"."modules": every instantiated module's run function at its module index) and the
/// host functions its blocks use, and exports "run" (param i64 state, i32 block, i32 nested)
/// (result i32 exit). Batching amortises an engine's per-module cost.
/// <para>
/// All blocks are cases of that one function, a dispatch loop over a <c>br_table</c>:
/// <code>
/// load the retired count and the cached registers
/// loop dispatch:
///   switch (block) { case 0: ...block 0... case 1: ...block 1... }
///   probe: the jump cache, for the blocks' computed jumps and jumps out of the module
/// exit:
///   spill the registers
///   while (code is a transfer &amp;&amp; !nested) code = modules[code.module](state, code.block, nested: 1)
///   return code
/// </code>
/// A direct jump to a block of the module branches to its case (forward, or to the loop around
/// a block that jumps to itself) or sets <c>block</c> and continues the dispatch loop (backward;
/// <see cref="ModuleLabels"/>), so chained blocks never leave the function and the registers stay
/// in locals (<see cref="ModuleFrame"/>) across them. A jump the vCPU's jump cache resolves to another module's block leaves with a
/// transfer, and the trampoline of the module the host entered calls that module: control stays
/// in Wasm, and the Wasm stack stays two calls deep however many modules it passes through.
/// </para>
/// </summary>
public static class Tier1ModuleEmitter
{
    /// <summary>Entries of a vCPU's module table; module indices are below it.</summary>
    public const int ModuleTableSize = ExitCode.MaxModules;

    /// <summary>The type of every module's run function.</summary>
    public static readonly WasmType[] RunParams = [WasmType.I64, WasmType.I32, WasmType.I32];

    public static byte[] Emit(IReadOnlyList<Tier1Block> blocks, Tier1Layout layout, ulong memoryBytes, bool is64, int moduleIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(moduleIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(moduleIndex, ModuleTableSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blocks.Count, ExitCode.MaxBlocks);
        var module = new WasmModuleBuilder();
        module.ImportMemory("emu", "mem", memoryBytes / 65536, shared: true, is64);
        module.ImportTable("emu", "modules", ModuleTableSize);
        bool flags = BlockLowering.DeclareImports(module, layout, blocks);
        int flagsFunction = flags ? module.FunctionIndex(FlagsFunction.Add(module)) : -1;
        var frame = ModuleFrame.For(moduleIndex, blocks, layout);

        var c = new CodeWriter();
        c.LocalGet(ModuleFrame.State);
        if (!is64) c.I32WrapI64();
        c.LocalSet(ModuleFrame.Sta);
        frame.CountTransfer(c, layout);
        frame.Load(c, layout);
        ModuleFrame.LoadLimit(c, layout);

        // exit { loop { probe { case_{n-1} { ... case_0 { br_table } code 0 } ... code n-1 } probe code } }:
        // the end of case_p is where the code of the block at layout position p starts.
        int n = blocks.Count;
        var labels = new ModuleLabels(blocks);
        var guesses = CcOpGuesses.For(blocks, layout);
        c.Block();
        labels.Exit = c.Depth;
        c.Loop();
        labels.Dispatch = c.Depth;
        c.Block();
        labels.Probe = c.Depth;
        for (int p = n - 1; p >= 0; p--)
        {
            c.Block();
            labels.SetCaseLabel(p, c.Depth);
        }

        c.LocalGet(ModuleFrame.BlockIndex);
        c.BrTable([.. Enumerable.Range(0, n).Select(labels.PositionOf)], 0);
        foreach (int i in labels.Order)
        {
            c.End();
            bool selfLoop = blocks[i].ChainTargets.Contains(i);
            if (selfLoop)
            {
                c.Loop();
            }

            labels.SelfLoop = selfLoop ? c.Depth : -1;
            BlockLowering.Lower(c, frame, module, layout, blocks, i, flagsFunction, labels, guesses[i], is64);
            if (selfLoop)
            {
                c.End();
            }
        }

        c.End();
        BlockLowering.EmitProbe(c, layout, is64, moduleIndex, labels.Dispatch, labels.Exit);
        c.End();
        c.Unreachable();
        c.End();
        frame.Spill(c, layout);
        EmitTrampoline(c, module);
        c.LocalGet(ModuleFrame.ExitCode);
        c.End();
        module.Export("run", module.AddFunction(RunParams, [WasmType.I32], frame.Locals(is64), c));
        return module.ToBytes();
    }

    /// <summary>
    /// <code>
    /// while ((code &amp; 3) == transfer &amp;&amp; !nested)
    ///     code = modules[code >> 18](state, (code >> 6) &amp; 4095, 1)
    /// </code>
    /// </summary>
    private static void EmitTrampoline(CodeWriter c, WasmModuleBuilder module)
    {
        c.Block();
        int done = c.Depth;
        c.Loop();
        int again = c.Depth;
        c.LocalGet(ModuleFrame.ExitCode);
        c.I32Const(ExitCode.KindMask);
        c.I32And();
        c.I32Const(ExitCode.Transfer);
        c.I32Ne();
        c.LocalGet(ModuleFrame.Nested);
        c.I32Or();
        c.BrIf(c.Depth - done);
        c.LocalGet(ModuleFrame.State);
        c.LocalGet(ModuleFrame.ExitCode);
        c.I32Const(6);
        c.I32ShrU();
        c.I32Const(ExitCode.MaxBlocks - 1);
        c.I32And();
        c.I32Const(1);
        c.LocalGet(ModuleFrame.ExitCode);
        c.I32Const(18);
        c.I32ShrU();
        c.CallIndirect(module.TypeOf(RunParams, [WasmType.I32]));
        c.LocalSet(ModuleFrame.ExitCode);
        c.BrTo(again);
        c.End();
        c.End();
    }
}

using Emulator.Backend.Wasm.Builder;
using Emulator.Backend.Wasm.Lowering;

namespace Emulator.Backend.Wasm;

/// <summary>
/// Turns a batch of hot blocks into one WebAssembly module: it imports the machine's shared
/// memory ("emu"."mem": guest RAM at 0, vCPU areas and block flags after it) and the host
/// functions its blocks use, and exports "run" (param i64 state, i32 block) (result i32 exit).
/// Batching amortises an engine's per-module cost.
/// <para>
/// All blocks are cases of that one function, a dispatch loop over a <c>br_table</c>:
/// <code>
/// load the retired count and the cached registers
/// loop dispatch:
///   switch (block) { case 0: ...block 0... case 1: ...block 1... }
/// </code>
/// A direct jump to a block of the module sets <c>block</c> and continues the loop, so chained
/// blocks never leave the function and the registers stay in locals (<see cref="ModuleFrame"/>)
/// across them; every exit branches to one place that stores them back and returns.
/// </para>
/// </summary>
public static class Tier1ModuleEmitter
{
    public static byte[] Emit(IReadOnlyList<Tier1Block> blocks, Tier1Layout layout, ulong memoryBytes, bool is64)
    {
        var module = new WasmModuleBuilder();
        module.ImportMemory("emu", "mem", memoryBytes / 65536, shared: true, is64);
        bool flags = BlockLowering.DeclareImports(module, layout, blocks);
        int flagsFunction = flags ? module.FunctionIndex(FlagsFunction.Add(module)) : -1;
        var frame = ModuleFrame.For(blocks, layout);

        var c = new CodeWriter();
        c.LocalGet(ModuleFrame.State);
        if (!is64) c.I32WrapI64();
        c.LocalSet(ModuleFrame.Sta);
        frame.Load(c, layout);

        // exit { loop { block_{n-1} { ... block_0 { br_table } code 0 } ... code n-1 } } spill:
        // the end of block_i is where case i's code starts.
        int n = blocks.Count;
        c.Block();
        int exit = c.Depth;
        c.Loop();
        int dispatch = c.Depth;
        for (int i = 0; i < n; i++)
        {
            c.Block();
        }

        c.LocalGet(ModuleFrame.BlockIndex);
        c.BrTable([.. Enumerable.Range(0, n)], 0);
        for (int i = 0; i < n; i++)
        {
            c.End();
            BlockLowering.Lower(c, frame, module, layout, blocks, i, flagsFunction, dispatch, exit, is64);
        }

        c.End();
        c.Unreachable();
        c.End();
        frame.Spill(c, layout);
        c.LocalGet(ModuleFrame.ExitCode);
        c.End();
        module.Export("run", module.AddFunction([WasmType.I64, WasmType.I32], [WasmType.I32], frame.Locals(is64), c));
        return module.ToBytes();
    }
}

using Emulator.Backend.Wasm.Builder;
using Emulator.Backend.Wasm.Lowering;

namespace Emulator.Backend.Wasm;

/// <summary>
/// Turns a batch of hot blocks into one WebAssembly module: it imports the machine's shared
/// memory ("emu"."mem": guest RAM at 0, vCPU areas and block flags after it) and the host
/// functions its blocks use, and exports "run" (param i64 state, i32 block) (result i32 exit):
/// a loop that calls block functions through the module's table and follows the direct jumps
/// between them (<see cref="ExitCode.Chain"/>), so chained blocks never leave Wasm. Batching
/// amortises an engine's per-module cost.
/// </summary>
public static class Tier1ModuleEmitter
{
    public static byte[] Emit(IReadOnlyList<Tier1Block> blocks, Tier1Layout layout, ulong memoryBytes, bool is64)
    {
        var module = new WasmModuleBuilder();
        module.ImportMemory("emu", "mem", memoryBytes / 65536, shared: true, is64);
        bool flags = BlockLowering.DeclareImports(module, layout, blocks);
        int flagsFunction = flags ? module.FunctionIndex(FlagsFunction.Add(module)) : -1;
        var functions = new int[blocks.Count];
        for (int i = 0; i < blocks.Count; i++)
        {
            functions[i] = BlockLowering.Lower(module, layout, blocks, i, flagsFunction, is64);
        }

        module.FunctionTable(functions);
        module.Export("run", EmitRun(module));
        return module.ToBytes();
    }

    /// <summary>
    /// <code>
    /// loop: code = table[block](state)
    ///       if (code &amp; 3 == chain) { block = code >> 8; continue }
    /// return code
    /// </code>
    /// </summary>
    private static int EmitRun(WasmModuleBuilder module)
    {
        const int State = 0, Block = 1, Code = 2;
        var c = new CodeWriter();
        c.Loop();
        c.LocalGet(State);
        c.LocalGet(Block);
        c.CallIndirect(module.TypeOf([WasmType.I64], [WasmType.I32]));
        c.LocalTee(Code);
        c.I32Const(ExitCode.KindMask);
        c.I32And();
        c.I32Const(ExitCode.Chain);
        c.I32Eq();
        c.If();
        c.LocalGet(Code);
        c.I32Const(ExitCode.BlockShift);
        c.I32ShrU();
        c.LocalSet(Block);
        c.Br(1);
        c.End();
        c.End();
        c.LocalGet(Code);
        c.End();
        return module.AddFunction([WasmType.I64, WasmType.I32], [WasmType.I32], [WasmType.I32], c);
    }
}

using Emulator.Backend.Wasm.Builder;
using Emulator.Backend.Wasm.Lowering;

namespace Emulator.Backend.Wasm;

/// <summary>
/// Turns a batch of hot blocks into one WebAssembly module: it imports the machine's shared
/// memory ("emu"."mem": guest RAM at 0, vCPU areas after it) and the host functions its blocks
/// use, and exports block i as "b{i}". Batching amortises an engine's per-module cost.
/// </summary>
public static class Tier1ModuleEmitter
{
    public static byte[] Emit(IReadOnlyList<Tier1Block> blocks, Tier1Layout layout, ulong memoryBytes, bool is64)
    {
        var module = new WasmModuleBuilder();
        module.ImportMemory("emu", "mem", memoryBytes / 65536, shared: true, is64);
        for (int i = 0; i < blocks.Count; i++)
        {
            int f = BlockLowering.Lower(module, layout, blocks[i], is64);
            module.Export("b" + i, f);
        }

        return module.ToBytes();
    }
}

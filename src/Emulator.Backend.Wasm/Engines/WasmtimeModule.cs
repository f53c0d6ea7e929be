namespace Emulator.Backend.Wasm.Engines;

/// <summary>
/// A module compiled by Wasmtime (Cranelift). It is engine-wide: any vCPU's store may
/// instantiate it. The helper ids it imports ("emu"."h{id}") are read once here, off the vCPU
/// thread, so instantiation only has to define the ones its store lacks.
/// </summary>
internal sealed class WasmtimeModule(WasmtimeEngine owner, Wasmtime.Module module, int bytes, int[] helperIds) : IWasmModule
{
    public int Bytes { get; } = bytes;

    internal WasmtimeEngine Owner { get; } = owner;

    internal Wasmtime.Module Module { get; } = module;

    internal int[] HelperIds { get; } = helperIds;

    /// <summary>The ids of the "emu"."h{id}" function imports, each once.</summary>
    internal static int[] FindHelperIds(Wasmtime.Module module)
    {
        var ids = new SortedSet<int>();
        foreach (Wasmtime.Import import in module.Imports)
        {
            if (import is Wasmtime.FunctionImport
                && import.ModuleName == WasmtimeVcpu.ImportModule
                && TryParseHelperName(import.Name, out int id))
            {
                ids.Add(id);
            }
        }

        return [.. ids];
    }

    /// <summary>"h" followed by a decimal id without sign or leading zeros, as the emitter names helpers.</summary>
    internal static bool TryParseHelperName(string name, out int id)
    {
        id = 0;
        if (name.Length < 2 || name[0] != 'h' || (name[1] == '0' && name.Length > 2))
        {
            return false;
        }

        foreach (char c in name.AsSpan(1))
        {
            if (c is < '0' or > '9' || id > (int.MaxValue - 9) / 10)
            {
                return false;
            }

            id = (id * 10) + (c - '0');
        }

        return true;
    }
}

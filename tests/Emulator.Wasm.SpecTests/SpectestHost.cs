using Emulator.Wasm.Model;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.SpecTests;

/// <summary>The "spectest" host module that the suite's scripts import (print functions, globals, table, memories).</summary>
public static class SpectestHost
{
    public static void Register(Imports imports)
    {
        imports.Define("spectest", "print", (Action)(() => { }));
        imports.Define("spectest", "print_i32", (Action<int>)(_ => { }));
        imports.Define("spectest", "print_i64", (Action<long>)(_ => { }));
        imports.Define("spectest", "print_f32", (Action<float>)(_ => { }));
        imports.Define("spectest", "print_f64", (Action<double>)(_ => { }));
        imports.Define("spectest", "print_i32_f32", (Action<int, float>)((_, _) => { }));
        imports.Define("spectest", "print_f64_f64", (Action<double, double>)((_, _) => { }));
        imports.Define("spectest", "global_i32", new Global(new GlobalType(ValType.I32, false), 666));
        imports.Define("spectest", "global_i64", new Global(new GlobalType(ValType.I64, false), 666L));
        imports.Define("spectest", "global_f32", new Global(new GlobalType(ValType.F32, false), 666.6f));
        imports.Define("spectest", "global_f64", new Global(new GlobalType(ValType.F64, false), 666.6));
        imports.Define("spectest", "table", new Table(new TableType(ValType.FuncRef, new Limits(10, 20))));
        imports.Define("spectest", "memory", new Memory(new MemoryType(new Limits(1, 2))));
        imports.Define("spectest", "shared_memory", new Memory(new MemoryType(new Limits(1, 2, Shared: true))));
    }
}

/// <summary>An externref value made by the script (ref.extern N).</summary>
public sealed record HostReference(ulong Id);

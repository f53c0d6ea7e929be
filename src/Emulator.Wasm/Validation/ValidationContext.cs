using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Validation;

/// <summary>The module-level context C of spec 3.1.6 that function bodies are checked against.</summary>
internal sealed class ValidationContext
{
    public required ModuleDefinition Module { get; init; }

    /// <summary>C.refs: functions that may appear in ref.func inside function bodies (spec 3.4.10).</summary>
    public required HashSet<int> DeclaredFunctionReferences { get; init; }

    public int FunctionCount => Module.FunctionTypes.Count;
    public bool HasMemory => Module.Memories.Count > 0;
    public bool Memory64 => HasMemory && Module.Memories[0].Is64;
    public ValType AddressType => Memory64 ? ValType.I64 : ValType.I32;
}

/// <summary>Throw helpers for validation errors.</summary>
internal static class Invalid
{
    public static WasmModuleException At(string section, long offset, string reason) =>
        new(ModuleErrorKind.Invalid, section, offset, reason);
}

namespace Emulator.Wasm.Validation;

/// <summary>
/// Feature switches for validation. The default is the full WebAssembly 2.0 set plus threads and memory64.
/// Turning <see cref="ReferenceTypes"/> off restores the MVP rule of at most one table, which the threads
/// proposal's test snapshot (written before reference types merged) still asserts.
/// </summary>
public sealed record WasmFeatures(bool ReferenceTypes = true)
{
    public static WasmFeatures Default { get; } = new();
}

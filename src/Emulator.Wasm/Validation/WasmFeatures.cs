namespace Emulator.Wasm.Validation;

/// <summary>
/// Feature switches for decoding and validation. The engine's default is everything it implements:
/// WebAssembly 2.0 (including reference types) plus the threads and memory64 proposals. A switch turned
/// off restores the older rule, as other engines' feature flags do:
/// <list type="bullet">
/// <item><see cref="ReferenceTypes"/> off: at most one table, and call_indirect's table immediate is a zero byte.</item>
/// <item><see cref="Threads"/> off: the shared flag of memory limits and the 0xFE atomic opcodes are malformed.</item>
/// <item><see cref="Memory64"/> off: the 64-bit flag of memory limits is malformed.</item>
/// </list>
/// The spec test runner uses these to run each suite with the feature set it was written for: the core
/// suite is 2.0 alone, and the threads and memory64 snapshots predate reference types.
/// </summary>
public sealed record WasmFeatures(bool ReferenceTypes = true, bool Threads = true, bool Memory64 = true)
{
    public static WasmFeatures Default { get; } = new();
}

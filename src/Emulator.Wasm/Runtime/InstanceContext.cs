namespace Emulator.Wasm.Runtime;

/// <summary>
/// What compiled code reaches through its last argument: the instance's memory, globals, tables,
/// function index space and segments. Fields, not properties, so emitted IL loads them directly.
/// </summary>
public sealed class InstanceContext
{
    internal Memory? Memory;
    internal Global[] Globals = Array.Empty<Global>();
    internal Table[] Tables = Array.Empty<Table>();
    internal WasmFunction[] Functions = Array.Empty<WasmFunction>();

    /// <summary>Data segments by index; null once dropped (data.drop or after active initialisation).</summary>
    internal byte[]?[] Data = Array.Empty<byte[]?>();

    /// <summary>Element segments, already evaluated to references; null once dropped.</summary>
    internal object?[]?[] Elements = Array.Empty<object?[]?>();

    /// <summary>For host-function stubs: the delegate to call.</summary>
    internal Delegate? HostTarget;
}

namespace Emulator.Backend.Wasm.Engines;

/// <summary>
/// A WebAssembly engine that runs tier-1 modules: Wasmtime (Cranelift) or the project's own
/// Wasm-to-CIL engine. The interface is as small as the backend needs: one shared linear
/// memory per machine, modules compiled on any thread, and per-vCPU contexts (a Wasmtime Store
/// is single-threaded, so every vCPU instantiates modules in its own).
/// </summary>
public interface IWasmEngine : IDisposable
{
    /// <summary>"wasmtime" or "cil", as -accel tcg,tier1=NAME spells it.</summary>
    string Name { get; }

    /// <summary>
    /// Whether modules for this engine keep the guest's registers in Wasm locals from entry to
    /// exit, across their blocks (<see cref="Lowering.Tier1Layout.CachedState"/>), rather than in
    /// the state in memory, loaded and stored by each block. Which is faster depends on the
    /// engine's compiler (RATIONALE.md, "Registers in locals, or in memory").
    /// </summary>
    bool KeepsRegistersInLocals { get; }

    /// <summary>
    /// Creates the machine's linear memory: <paramref name="bytes"/> (a multiple of 64 KiB), zeroed,
    /// shared between threads, of fixed size (minimum = maximum), 64-bit addressed when
    /// <paramref name="is64"/>. Its host address never moves while it lives.
    /// </summary>
    IWasmMemory CreateMemory(ulong bytes, bool is64);

    /// <summary>Compiles a module. Thread-safe; runs off the vCPU threads. Throws <see cref="WasmCompileException"/> on a bad module.</summary>
    IWasmModule Compile(byte[] wasm);

    /// <summary>
    /// Creates one vCPU's context over <paramref name="memory"/>, with the host functions tier-1
    /// modules import. The context and what it instantiates are used on one thread only.
    /// </summary>
    IWasmVcpu CreateVcpu(IWasmMemory memory, Tier1Imports imports);
}

/// <summary>A linear memory created by an engine; Dispose frees it (after every vCPU context using it).</summary>
public unsafe interface IWasmMemory : IDisposable
{
    byte* Pointer { get; }

    ulong Length { get; }

    bool Is64 { get; }
}

/// <summary>A compiled module, not yet bound to any vCPU.</summary>
public interface IWasmModule
{
    /// <summary>Size of the module's bytes (for the live-code figures).</summary>
    int Bytes { get; }
}

/// <summary>One vCPU's engine context.</summary>
public interface IWasmVcpu : IDisposable
{
    /// <summary>
    /// Instantiates <paramref name="module"/> in this context, puts its export "run" at
    /// <paramref name="moduleIndex"/> of the context's module table ("emu"."modules", where
    /// compiled code finds other modules), and returns an entry to it.
    /// </summary>
    ModuleEntry Instantiate(IWasmModule module, int moduleIndex);

    /// <summary>
    /// Instances this context holds. Wasmtime frees instances only with their store, so the owner
    /// replaces a context whose count outgrows the live modules (the CIL engine's are collected).
    /// </summary>
    int InstanceCount { get; }
}

/// <summary>
/// A tier-1 module's "run" as the host calls it (not nested): runs its block
/// <paramref name="block"/> from the vCPU state at <paramref name="state"/> (a Wasm address),
/// and the blocks it reaches, and returns an exit code (<see cref="Lowering.ExitCode"/>).
/// </summary>
public delegate int ModuleEntry(long state, int block);

/// <summary>
/// The host functions a tier-1 module imports (module "emu"), bound to one vCPU. A function that
/// may fault records the guest exception in the vCPU state (ExceptionVector >= 0); the block checks it.
/// </summary>
/// <param name="Read">"read" (i64 linear address, i32 size) -> i64 value: the softmmu slow path (page walk, MMIO).</param>
/// <param name="Write">"write" (i64 linear address, i32 size, i64 value): the slow path of a store.</param>
/// <param name="Atomic">"atomic" (i64 address, i32 op, i64 b, i64 c) -> i64 old value: a LOCK-prefixed access; op is the IR type in bits 0-1, then AtomicRmw (bit 2 clear, AtomicOp in bits 3+) or AtomicCas (bit 2 set).</param>
/// <param name="Helper">"h{id}" (i64, i64, i64, i64) -> i64: IR helper <c>id</c>.</param>
public sealed record Tier1Imports(
    Func<long, int, long> Read,
    Action<long, int, long> Write,
    Func<long, int, long, long, long> Atomic,
    Func<int, Func<long, long, long, long, long>> Helper);

/// <summary>A module an engine refused.</summary>
public sealed class WasmCompileException(string message, Exception? inner = null) : Exception(message, inner);

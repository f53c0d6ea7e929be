using Wasmtime;

namespace Emulator.Backend.Wasm.Engines;

/// <summary>
/// Tier 1 on Wasmtime: Cranelift compiles each module to native code, optimised for speed,
/// with the threads (shared memory, atomics) and memory64 proposals on. One Wasmtime engine per
/// instance; modules compile on any thread, and each vCPU runs them in a store of its own.
/// </summary>
public sealed class WasmtimeEngine : IWasmEngine
{
    private readonly Engine engine;

    /// <param name="parallelCompilation">
    /// Whether Cranelift compiles a module's functions on a pool of worker threads. Off by
    /// default: tier 1 compiles on one background thread, and workers on every core would take
    /// the cores of the vCPU threads (measured with 2 cores busy: no faster, often slower).
    /// </param>
    public WasmtimeEngine(bool parallelCompilation = false)
    {
        using var config = new Config()
            .WithCompilerStrategy(CompilerStrategy.Cranelift)
            .WithOptimizationLevel(OptimizationLevel.Speed)
            .WithParallelCompilation(parallelCompilation)
            .WithWasmThreads(true)
            .WithMemory64(true);

        // EMU_TIER1_PERFMAP=1 writes /tmp/perf-PID.map so that `perf record` names compiled
        // modules; =jitdump writes jit-PID.dump with their machine code, for `perf record -k 1`,
        // `perf inject --jit` and `perf annotate`.
        switch (Environment.GetEnvironmentVariable("EMU_TIER1_PERFMAP"))
        {
            case "1":
                config.WithProfilingStrategy(ProfilingStrategy.PerfMap);
                break;
            case "jitdump":
                config.WithProfilingStrategy(ProfilingStrategy.JitDump);
                break;
        }

        // Creating a shared memory from the host is off by default in Wasmtime's config and
        // the wrapper has no setter for it. Safe: the config is alive (and not yet consumed by
        // an engine) during the call.
        unsafe
        {
            WasmtimeNative.ConfigSharedMemorySet(WasmtimeHandles.Of(config), 1);
        }

        GC.KeepAlive(config);
        engine = new Engine(config);
    }

    public string Name => "wasmtime";

    /// <summary>
    /// False: Cranelift cannot keep some twenty registers live across a run function's loop in
    /// the host's registers, spills them, and moves them between stack slots at every join of
    /// blocks; in memory, each block loads what it reads and stores what it writes, and
    /// compiles about 20% faster.
    /// </summary>
    public bool KeepsRegistersInLocals => false;

    public IWasmMemory CreateMemory(ulong bytes, bool is64) =>
        WasmtimeSharedMemory.Create(this, engine, bytes, is64);

    public IWasmModule Compile(byte[] wasm)
    {
        ArgumentNullException.ThrowIfNull(wasm);
        Module module;
        try
        {
            module = Module.FromBytes(engine, "tier1", wasm);
        }
        catch (WasmtimeException e)
        {
            throw new WasmCompileException(e.Message, e);
        }

        return new WasmtimeModule(this, module, wasm.Length, WasmtimeModule.FindHelperIds(module));
    }

    public IWasmVcpu CreateVcpu(IWasmMemory memory, Tier1Imports imports)
    {
        ArgumentNullException.ThrowIfNull(imports);
        if (memory is not WasmtimeSharedMemory shared || shared.Owner != this)
        {
            throw new ArgumentException("the memory was not created by this engine", nameof(memory));
        }

        return new WasmtimeVcpu(this, engine, shared, imports);
    }

    public void Dispose() => engine.Dispose();
}

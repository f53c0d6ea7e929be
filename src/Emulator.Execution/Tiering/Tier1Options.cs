using Emulator.Backend.Wasm.Engines;

namespace Emulator.Execution.Tiering;

/// <summary>
/// How hot blocks are promoted to tier 1 (WebAssembly). The defaults follow the seed design:
/// a block is compiled after 1500 runs on the interpreter and at most 15,000 compiled blocks
/// stay live (the oldest half is evicted when the cap is reached).
/// </summary>
public sealed record Tier1Options(IWasmEngine Engine)
{
    /// <summary>Runs on tier 0 before a block is queued for compilation (1: every block, as the tests force it).</summary>
    public int Threshold { get; init; } = DefaultThreshold;

    public const int DefaultThreshold = 1500;

    /// <summary>Most blocks compiled into one module.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Most compiled blocks kept live; past it the oldest modules are evicted until half remain.</summary>
    public int MaxLiveBlocks { get; init; } = 15_000;

    /// <summary>
    /// Entries a second from other modules (summed over the vCPUs) from which a module counts as
    /// hot: when two or more stay hot over two scans, their blocks are compiled again as one
    /// module, so control passes between them without leaving a run function (0: never). A
    /// transfer costs some tens of nanoseconds and a merge some hundreds of milliseconds of the
    /// compiler thread, so only rates that cost the vCPU several milliseconds a second qualify.
    /// </summary>
    public int MergeTransfersPerSecond { get; init; } = DefaultMergeTransfersPerSecond;

    public const int DefaultMergeTransfersPerSecond = 200_000;

    /// <summary>Most blocks a merged module holds.</summary>
    public int MaxMergedBlocks { get; init; } = 512;

    /// <summary>Compile on the vCPU thread at promotion instead of in the background (deterministic: tests and the differential mode).</summary>
    public bool Synchronous { get; init; }

    /// <summary>Sees every module's bytes before it is compiled (tests validate them with wasm-validate; EMU_TIER1_DUMP writes them out).</summary>
    public Action<byte[]>? ModuleObserver { get; init; }

    /// <summary>The engines -accel tcg,tier1=NAME accepts ("off" is no engine).</summary>
    public static IReadOnlyList<string> EngineNames { get; } = ["wasmtime", "cil"];

    private static readonly Lazy<IWasmEngine> Wasmtime = new(() => new WasmtimeEngine());
    private static readonly Lazy<IWasmEngine> Cil = new(() => new CilEngine());

    /// <summary>
    /// The process's engine of that name, as -accel tcg,tier1=NAME spells it. Engines are shared
    /// by every machine of the process (compiling is thread-safe; each vCPU has its own context)
    /// and live as long as it.
    /// </summary>
    public static IWasmEngine CreateEngine(string name) => name switch
    {
        "cil" => Cil.Value,
        "wasmtime" => Wasmtime.Value,
        _ => throw new ArgumentException($"unknown tier-1 engine '{name}' (wasmtime, cil or off)", nameof(name)),
    };
}

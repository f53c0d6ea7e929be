using Emulator.X86.Memory;

namespace Emulator.Execution.Tiering;

/// <summary>Creates a machine's guest memory and translation cache, with tier 1 as chosen.</summary>
public static class MachineCode
{
    /// <summary>
    /// Guest memory of <paramref name="ramBytes"/> and a translation cache that promotes hot blocks
    /// per <paramref name="tier1"/> (null: tier 0 alone). With tier 1 the memory is the engine's linear memory.
    /// The cache holds at most <paramref name="maxBlocks"/> blocks.
    /// </summary>
    public static (GuestMemory Memory, TranslationCache Cache) Create(ulong ramBytes, Tier1Options? tier1, int maxBlocks = TranslationCache.DefaultMaxBlocks)
    {
        if (tier1 is null)
        {
            return (new GuestMemory(ramBytes), new TranslationCache(null, maxBlocks));
        }

        var tierUp = new TierUp(tier1);
        return (tierUp.CreateGuestMemory(ramBytes), new TranslationCache(tierUp, maxBlocks));
    }

    /// <summary>The tier-1 engine when nothing names one (the faster on the boot and guest benchmarks; README, Figures).</summary>
    public const string DefaultEngine = "wasmtime";

    /// <summary>
    /// Tier 1 for a machine whose user chose nothing: EMU_TIER1 and its companions when set (see
    /// <see cref="FromEnvironment"/>: test runs force a tier that way), else <see cref="DefaultEngine"/>
    /// at the default threshold, compiled in the background.
    /// </summary>
    public static Tier1Options? Default()
    {
        string? forced = Environment.GetEnvironmentVariable("EMU_TIER1");
        return string.IsNullOrEmpty(forced) ? new Tier1Options(Tier1Options.CreateEngine(DefaultEngine)) : FromEnvironment();
    }

    /// <summary>
    /// Tier-1 settings from the environment, for test runs that force a tier on everything:
    /// EMU_TIER1=cil|wasmtime|off (unset: off), EMU_TIER1_THRESHOLD=N (default 1: every block),
    /// EMU_TIER1_ASYNC=1 compiles in the background as a machine does (default: at promotion).
    /// </summary>
    public static Tier1Options? FromEnvironment()
    {
        string? engine = Environment.GetEnvironmentVariable("EMU_TIER1");
        if (string.IsNullOrEmpty(engine) || engine == "off")
        {
            return null;
        }

        int threshold = int.TryParse(Environment.GetEnvironmentVariable("EMU_TIER1_THRESHOLD"), out int t) && t > 0 ? t : 1;
        return new Tier1Options(Tier1Options.CreateEngine(engine))
        {
            Threshold = threshold,
            Synchronous = Environment.GetEnvironmentVariable("EMU_TIER1_ASYNC") != "1",
        };
    }
}

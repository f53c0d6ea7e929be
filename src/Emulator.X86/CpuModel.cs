namespace Emulator.X86;

/// <summary>
/// A named CPU model, spelled as QEMU's <c>-cpu</c> names it: which optional features
/// (<see cref="CpuFeatures"/>) the guest is shown. Every model has the x86-64 baseline (SSE2,
/// CMPXCHG8B, NX, SYSCALL, 1 GiB pages, RDTSCP) and LAHF/SAHF in 64-bit mode.
/// </summary>
public sealed record CpuModel(string Name, string Description, CpuFeatures Features)
{
    /// <summary>The x86-64 baseline, roughly QEMU's qemu64 (without its SSE3): SSE2 and CMPXCHG16B, no SSE3 or later, no POPCNT.</summary>
    public static readonly CpuModel Qemu64 = new("qemu64", "x86-64 baseline: SSE2, CMPXCHG16B, LAHF/SAHF; no SSE3 or later, no POPCNT", CpuFeatures.Cx16);

    /// <summary>The x86-64-v2 level: the default.</summary>
    public static readonly CpuModel X86_64_V2 = new("x86-64-v2", "x86-64-v2: the baseline plus SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT (the default)", CpuFeatures.X86_64_V2);

    /// <summary>Everything implemented, as QEMU's "max".</summary>
    public static readonly CpuModel Max = new("max", "everything emu implements: x86-64-v2 plus MOVBE, LZCNT, BMI1, BMI2, ADX (no AVX)", CpuFeatures.All);

    public static readonly CpuModel Default = X86_64_V2;

    public static IReadOnlyList<CpuModel> All { get; } = [Qemu64, X86_64_V2, Max];

    /// <summary>The model called <paramref name="name"/> (case-insensitive), or an error that names the known ones.</summary>
    public static CpuModel Parse(string name)
    {
        foreach (var m in All)
        {
            if (string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return m;
            }
        }

        throw new ArgumentException($"unknown CPU model '{name}'; known models: {string.Join(", ", All.Select(m => m.Name))}", nameof(name));
    }

    /// <summary>The list <c>-cpu help</c> prints: one model a line with what it offers.</summary>
    public static string Help()
    {
        var lines = All.Select(m => $"  {m.Name,-10} {m.Description}");
        return "Available CPU models:\n" + string.Join('\n', lines) + '\n';
    }
}

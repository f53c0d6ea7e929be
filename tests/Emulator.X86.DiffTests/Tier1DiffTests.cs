using Emulator.Execution.Tiering;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.X86.DiffTests;

/// <summary>
/// Tier 1 against tier 0 on generated code: every group of the host differential plus random
/// bytes, on each engine, with the fixed seed (EMU_DIFF_SEED overrides): 20,480 cases per engine
/// (about 45,000 compiled blocks); a failure prints the command that replays its batch. Longer
/// runs: <c>dotnet run --project tests/Emulator.X86.DiffTests -c Release -- --tier1 ENGINE --cases N</c>.
/// </summary>
public sealed class Tier1DiffTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, int> Cases()
    {
        var data = new TheoryData<string, string, int>();
        foreach (string engine in Tier1Options.EngineNames)
        {
            foreach (string group in Tier1DiffRunner.Groups)
            {
                // 256-case batches: 16 of random bytes (the widest net), 8 of each generated group.
                data.Add(engine, group, Tier1DiffRunner.BatchSize * (group == "bytes" ? 16 : 8));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tier1_matches_tier0(string engine, string group, int cases)
    {
        ulong seed = DiffSettings.Seed;
        using var runner = new Tier1DiffRunner(engine);
        var summary = runner.Run(group, seed, 0, cases);
        output.WriteLine($"{engine} {group}: {summary}");
        Assert.True(summary.Mismatched == 0, $"{summary.Mismatched} of {summary.Cases} cases differ between tier 0 and tier 1 ({engine}):\n{string.Join("\n", summary.Failures)}");
        Assert.True(summary.Tier1Entries >= summary.Cases / 2, $"tier-1 code was entered only {summary.Tier1Entries} times in {summary.Cases} cases");
    }
}

using System.Text;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.X86.DiffTests;

/// <summary>
/// One test per instruction group: a fixed number of generated cases (200,000 in all),
/// each run on the host CPU and on the emulator. The seed is fixed unless EMU_DIFF_SEED is set;
/// a failure lists the first cases that differ with the command that replays each.
/// </summary>
public sealed class HostDiffTests(ITestOutputHelper output)
{
    [Fact]
    public void IntegerAlu() => Run("alu", 30_000);

    [Fact]
    public void ShiftsAndRotates() => Run("shift", 20_000);

    [Fact]
    public void MultiplyDivide() => Run("muldiv", 15_000);

    [Fact]
    public void BitOperations() => Run("bit", 20_000);

    [Fact]
    public void StringOperations() => Run("string", 15_000);

    [Fact]
    public void CompareExchange() => Run("atomic", 15_000);

    [Fact]
    public void Sse() => Run("sse", 35_000);

    [Fact]
    public void BranchesAndLoops() => Run("flow", 20_000);

    [Fact]
    public void Sse3ToSse42() => Run("sse4", 30_000, requireHost: true);

    private void Run(string name, int cases, bool requireHost = false)
    {
        ulong seed = DiffSettings.Seed;
        var group = DiffGroup.Find(name) ?? throw new InvalidOperationException($"no group {name}");
        output.WriteLine($"group {name}, seed 0x{seed:x} (EMU_DIFF_SEED overrides), {cases} cases");
        if (group.HostGaps is { } gaps)
        {
            output.WriteLine(gaps);
        }

        if (!group.Runnable)
        {
            // A CI host is expected to have x86-64-v2: a missing level there is a failure, not a skip.
            Assert.False(requireHost && Environment.GetEnvironmentVariable("CI") == "true", $"the host cannot run group {name}: {group.HostGaps}");
            output.WriteLine("skipped: the host cannot run any instruction of this group");
            return;
        }

        using var runner = new DiffRunner();
        var summary = runner.RunGroup(group, seed, 0, cases, keepFailures: 3);
        output.WriteLine(summary.ToString());
        if (summary.Passed == summary.Cases)
        {
            return;
        }

        var msg = new StringBuilder();
        msg.AppendLine($"{summary.Cases - summary.Passed} of {summary.Cases} cases of group {name} failed (seed 0x{seed:x}): " +
            $"{summary.Mismatched} mismatched, {summary.Stopped} stopped early" +
            (summary.Unimplemented.Count > 0 ? $"; not implemented: {string.Join(' ', summary.Unimplemented)}" : ""));
        foreach (var f in summary.Failures)
        {
            msg.AppendLine(runner.Describe(f));
        }

        output.WriteLine(msg.ToString());
        Assert.Fail(msg.ToString());
    }
}

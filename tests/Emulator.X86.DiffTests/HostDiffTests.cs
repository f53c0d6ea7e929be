using System.Text;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.X86.DiffTests;

/// <summary>
/// One test per instruction group: a fixed number of generated cases (200,000 in all, and
/// 240,000 more in the paged world: faults, 32- and 16-bit code, x87),
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

    /// <summary>Code that faults at CPL 3 with paging: vector, error code, CR2, saved RIP, registers and memory against the host's.</summary>
    [HostRunnerFact]
    public void Faults() => RunWorld("fault", 80_000);

    /// <summary>The alu, shift, muldiv, bit and flow groups assembled for 32-bit code, in compatibility mode.</summary>
    [HostRunnerFact]
    public void CompatibilityMode32()
    {
        foreach (var name in new[] { "alu32", "shift32", "muldiv32", "bit32", "flow32" })
        {
            RunWorld(name, 12_000);
        }
    }

    /// <summary>The alu, shift, muldiv and bit groups assembled for 16-bit code, in a 16-bit code segment.</summary>
    [HostRunnerFact]
    public void CodeSegment16()
    {
        foreach (var name in new[] { "alu16", "shift16", "muldiv16", "bit16" })
        {
            RunWorld(name, 10_000);
        }
    }

    /// <summary>x87 arithmetic under random rounding and precision control against the host's x87.</summary>
    [HostRunnerFact]
    public void X87() => RunWorld("x87", 60_000);

    private void RunWorld(string name, int cases)
    {
        ulong seed = DiffSettings.Seed;
        var group = WorldGroup.Find(name) ?? throw new InvalidOperationException($"no group {name}");
        output.WriteLine($"group {name}, seed 0x{seed:x} (EMU_DIFF_SEED overrides), {cases} cases, host side: Native/fault_runner.c");
        if (group.HostGaps is { } gaps)
        {
            output.WriteLine(gaps);
        }

        using var runner = new WorldRunner();
        var summary = runner.RunGroup(group, seed, 0, cases, keepFailures: 3);
        output.WriteLine(summary.ToString());
        if (summary.Passed == summary.Cases)
        {
            return;
        }

        var msg = new StringBuilder();
        msg.AppendLine($"{summary.Cases - summary.Passed} of {summary.Cases} cases of group {name} failed (seed 0x{seed:x})");
        foreach (var f in summary.Failures)
        {
            msg.AppendLine(WorldRunner.Describe(f));
        }

        output.WriteLine(msg.ToString());
        Assert.Fail(msg.ToString());
    }

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

/// <summary>A fact that needs the host runner (gcc builds it): skipped with the reason when it cannot be built, failed under CI.</summary>
public sealed class HostRunnerFactAttribute() : Emulator.Testing.DependencyFactAttribute(HostRunner.Unavailable);

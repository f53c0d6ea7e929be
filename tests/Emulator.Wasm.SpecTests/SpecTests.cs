using Xunit;

namespace Emulator.Wasm.SpecTests;

/// <summary>One xunit test per .wast file of the official suite; fails listing the failed assertions.</summary>
public sealed class SpecTests
{
    public static IEnumerable<object[]> Files() =>
        SpecSuite.Files().Where(f => f.SkipReason is null).Select(f => new object[] { f.Name });

    public static IEnumerable<object[]> SimdFiles() =>
        SpecSuite.Files().Where(f => f.SkipReason is not null).Select(f => new object[] { f.Name });

    [Theory]
    [MemberData(nameof(Files))]
    public void Wast(string name)
    {
        var file = SpecSuite.Files().Single(f => f.Name == name);
        var result = SpecFileRunner.RunIsolated(file);
        Assert.True(result.Failed == 0,
            $"{result.Failed} of {result.Passed + result.Failed} assertions failed in {name}:\n" + string.Join("\n", result.Failures));
    }

    [Theory(Skip = "SIMD (v128) is not supported by the engine")]
    [MemberData(nameof(SimdFiles))]
    public void Simd(string name) => Assert.Fail(name);
}

using Emulator.Cli;
using Emulator.X86;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>`-cpu` as QEMU users write it: a model name; an unknown one is an error naming the known ones.</summary>
public sealed class CpuOptionTests
{
    [Theory]
    [InlineData("x86-64-v2", "x86-64-v2")]
    [InlineData("qemu64", "qemu64")]
    [InlineData("max", "max")]
    [InlineData("X86-64-V2", "x86-64-v2")]
    public void KnownModelsParse(string option, string expected)
    {
        Assert.Null(MachineOptions.ParseCpu(option, out var model));
        Assert.Equal(expected, model.Name);
    }

    [Fact]
    public void TheDefaultIsX86_64_V2()
    {
        Assert.Same(CpuModel.X86_64_V2, CpuModel.Default);
        Assert.Same(CpuModel.X86_64_V2, new MachineOptions { Kernel = "k" }.CpuModel);
    }

    [Theory]
    [InlineData("haswell")]
    [InlineData("")]
    public void UnknownModelsAreRefusedWithTheKnownOnes(string option)
    {
        string? error = MachineOptions.ParseCpu(option, out _);
        Assert.NotNull(error);
        Assert.Contains("known models: qemu64, x86-64-v2, max", error);
    }

    [Fact]
    public void FeatureFlagsAreRefused()
    {
        string? error = MachineOptions.ParseCpu("qemu64,+sse4.2", out _);
        Assert.NotNull(error);
        Assert.Contains("+sse4.2", error);
    }
}

using Emulator.Cli;
using Emulator.Machine.Block;
using Xunit;

namespace Emulator.System.Tests;

/// <summary>`-drive` as QEMU users write it: the format is what the option says, raw unless it says emucow.</summary>
public sealed class DriveOptionTests
{
    [Theory]
    [InlineData("file=disk.img", BlockFormat.Raw)]
    [InlineData("file=disk.img,format=raw,if=virtio", BlockFormat.Raw)]
    [InlineData("file=disk.cow,if=virtio", BlockFormat.Raw)]
    [InlineData("file=disk.cow,format=emucow,if=virtio", BlockFormat.EmuCow)]
    public void TheFormatIsTheOptionsNotTheFiles(string option, BlockFormat expected)
    {
        Assert.Null(MachineOptions.ParseDrive(option, out var disk));
        Assert.Equal(expected, disk.Format);
    }

    [Theory]
    [InlineData("file=disk.img,format=qcow2")]
    [InlineData("file=disk.img,format=")]
    public void OtherFormatsAreRefused(string option)
    {
        string? error = MachineOptions.ParseDrive(option, out _);
        Assert.NotNull(error);
        Assert.Contains("raw or emucow", error);
    }
}

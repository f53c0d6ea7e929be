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

/// <summary>`-virtfs` as QEMU users write it; other drivers and security models are refused by name.</summary>
public sealed class VirtfsOptionTests
{
    [Fact]
    public void AShareIsParsedInQemusSpelling()
    {
        string dir = Path.GetTempPath();
        Assert.Null(VirtfsOption.Parse($"local,path={dir},mount_tag=host0,security_model=none", out var share));
        Assert.Equal(("host0", false), (share.MountTag, share.ReadOnly));
        Assert.Null(VirtfsOption.Parse($"local,id=fs0,path={dir},mount_tag=ro,security_model=none,readonly=on", out share));
        Assert.True(share.ReadOnly);
    }

    [Theory]
    [InlineData("local,path=TMP,mount_tag=t,security_model=mapped-xattr", "security_model=none only")]
    [InlineData("local,path=TMP,mount_tag=t,security_model=passthrough", "security_model=none only")]
    [InlineData("local,path=TMP,mount_tag=t", "security_model=")]
    [InlineData("proxy,path=TMP,mount_tag=t,security_model=none", "'local'")]
    [InlineData("local,path=TMP,security_model=none", "mount_tag=")]
    [InlineData("local,path=/no/such/dir,mount_tag=t,security_model=none", "not a directory")]
    [InlineData("local,path=TMP,mount_tag=t,security_model=none,writeout=immediate", "unsupported option")]
    public void OtherSpellingsAreClearErrors(string option, string why)
    {
        string? error = VirtfsOption.Parse(option.Replace("TMP", Path.GetTempPath().TrimEnd('/'), StringComparison.Ordinal), out _);
        Assert.NotNull(error);
        Assert.Contains(why, error);
    }
}

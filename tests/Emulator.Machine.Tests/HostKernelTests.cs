using Emulator.Machine.Boot;
using Emulator.X86.Memory;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.Machine.Tests;

/// <summary>Runs only when a real kernel is at hand: /boot/vmlinuz-*, or the file named by EMULATOR_TEST_KERNEL.</summary>
public sealed class RealKernelFactAttribute : FactAttribute
{
    public RealKernelFactAttribute()
    {
        if (HostKernelTests.FindKernel() is null)
        {
            Skip = "no kernel in /boot (vmlinuz-*) and EMULATOR_TEST_KERNEL is not set";
        }
    }
}

public class HostKernelTests(ITestOutputHelper output)
{
    public static string? FindKernel()
    {
        string? env = Environment.GetEnvironmentVariable("EMULATOR_TEST_KERNEL");
        if (!string.IsNullOrEmpty(env) && File.Exists(env))
        {
            return env;
        }

        try
        {
            return Directory.Exists("/boot") ? Directory.GetFiles("/boot", "vmlinuz-*").Order().LastOrDefault() : null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    [RealKernelFact]
    public void ParsesTheDistributionKernel()
    {
        string path = FindKernel()!;
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            output.WriteLine($"{path} is not readable by this user; nothing to check");
            return;
        }

        var k = KernelImage.Parse(file, path);
        output.WriteLine($"{path}: {k.Format}, boot protocol {Boot.SetupHeader.FormatVersion(k.ProtocolVersion)}, " +
            $"file {file.Length} bytes, protected-mode kernel {k.LoadedBytes} bytes, init_size 0x{k.InitSize:x}, " +
            $"pref_address 0x{k.PrefAddress:x}, kernel_alignment 0x{k.KernelAlignment:x}, relocatable {k.Relocatable}, " +
            $"xloadflags 0x{k.XLoadFlags:x}, cmdline_size {k.CmdlineSize}, initrd_addr_max 0x{k.InitrdAddrMax:x}, " +
            $"needs RAM up to 0x{k.ReservedEnd:x}");
        Assert.Equal(KernelFormat.BzImage, k.Format);
        Assert.True(k.ProtocolVersion >= 0x020c);
        Assert.Equal(0x100200UL, k.EntryPoint64);
        Assert.True(k.InitSize > k.LoadedBytes, "the decompressed kernel is larger than the compressed one");

        using var mem = new GuestMemory(512UL << 20);
        var info = LinuxBoot.Load(mem, new LinuxBootOptions { Kernel = file, KernelName = path, CommandLine = "console=ttyS0 panic=-1" });
        Assert.Equal(0x100200UL, info.Cpu.Rip);
    }
}

using Emulator.Machine.Boot;
using Emulator.X86.Memory;
using Xunit;
using Xunit.Abstractions;

namespace Emulator.Machine.Tests;

/// <summary>
/// A real distribution kernel through the bzImage parser and the Linux boot loader: the file named
/// by EMULATOR_TEST_KERNEL, else the host's newest readable /boot/vmlinuz-*, else (a CI machine or
/// a container has no /boot kernel) Debian's kernel from the default guest image. It never skips.
/// </summary>
public class HostKernelTests(ITestOutputHelper output)
{
    public static string FindKernel()
    {
        string? env = Environment.GetEnvironmentVariable("EMULATOR_TEST_KERNEL");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }

        return HostBootKernel() ?? DefaultGuest.BzImage;
    }

    /// <summary>The newest /boot/vmlinuz-* this user can read (Ubuntu makes them root-only).</summary>
    private static string? HostBootKernel()
    {
        try
        {
            if (!Directory.Exists("/boot"))
            {
                return null;
            }

            foreach (string path in Directory.GetFiles("/boot", "vmlinuz-*").OrderDescending())
            {
                try
                {
                    using (File.OpenRead(path))
                    {
                        return path;
                    }
                }
                catch (UnauthorizedAccessException)
                {
                    // not readable by this user: try the next, or fall back to the guest's kernel
                }
            }
        }
        catch (UnauthorizedAccessException)
        {
            // /boot itself is not listable
        }

        return null;
    }

    [Fact]
    public void ParsesTheDistributionKernel()
    {
        string path = FindKernel();
        byte[] file = File.ReadAllBytes(path);

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

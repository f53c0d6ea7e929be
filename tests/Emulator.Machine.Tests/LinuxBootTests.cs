using System.Text;
using Emulator.Machine.Boot;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Machine.Tests.TestImages;

namespace Emulator.Machine.Tests;

/// <summary>boot_params, the e820 map and memory placement (zero-page.rst, boot.rst).</summary>
public sealed class LinuxBootTests : IDisposable
{
    private const ulong Ram = 64 << 20;
    private readonly GuestMemory mem = new(Ram);
    private static readonly byte[] Code = [0xf4];

    public void Dispose() => mem.Dispose();

    private ulong Zp(int offset, int size) => Read(mem.Span(BootLayout.BootParamsAddress, 4096), offset, size);

    private LinuxBootInfo Boot(byte[] kernel, string cmdline = "console=ttyS0", byte[]? initrd = null) =>
        LinuxBoot.Load(mem, new LinuxBootOptions { Kernel = kernel, KernelName = "bz", CommandLine = cmdline, Initrd = initrd, InitrdName = "initrd.img", AcpiRsdpAddress = 0xe0000 });

    [Fact]
    public void BootParamsCarryTheLoadersFields()
    {
        byte[] file = BzImage(Code);
        var info = Boot(file);
        Assert.Equal(0x7000UL, info.BootParamsAddress);
        Assert.Equal(0xffUL, Zp(0x210, 1)); // type_of_loader: undefined
        Assert.Equal(0x81UL, Zp(0x211, 1)); // loadflags: LOADED_HIGH | CAN_USE_HEAP
        Assert.Equal(0x20000UL, Zp(0x228, 4)); // cmd_line_ptr
        Assert.Equal(0UL, Zp(0xc8, 4)); // ext_cmd_line_ptr
        Assert.Equal("console=ttyS0\0", Encoding.ASCII.GetString(mem.Span(0x20000, 14)));
        Assert.Equal(0xe0000UL, Zp(0x70, 8)); // acpi_rsdp_addr
        Assert.Equal(0UL, Zp(0x1ef, 1)); // sentinel
        Assert.Equal(0UL, Zp(0x218, 4)); // no initrd
        Assert.Equal(0UL, Zp(0x21c, 4));

        // The rest of the setup header is the file's.
        Assert.Equal(0x53726448UL, Zp(0x202, 4));
        Assert.Equal(0x020fUL, Zp(0x206, 2));
        Assert.Equal(0x400000UL, Zp(0x260, 4)); // init_size: the decompressor reads it from here
        Assert.Equal(0x200000UL, Zp(0x230, 4)); // kernel_alignment, likewise

        // The protected-mode kernel is at 1 MiB.
        Assert.Equal(file.AsSpan(5 * 512).ToArray(), mem.Span(0x100000, file.Length - 5 * 512).ToArray());
    }

    [Fact]
    public void E820MapForSmallRam()
    {
        Boot(BzImage(Code));
        Assert.Equal(5UL, Zp(0x1e8, 1));
        var expected = new (ulong Addr, ulong Size, uint Type)[]
        {
            (0, 0x9fc00, 1),
            (0x9fc00, 0x100000 - 0x9fc00, 2), // EBDA and BIOS area, with the RSDP and ACPI tables
            (0x100000, Ram - 0x100000, 1),
            (0xfec00000, 0x1000, 2), // IOAPIC
            (0xfee00000, 0x1000, 2), // local APIC
        };
        for (int i = 0; i < expected.Length; i++)
        {
            int at = 0x2d0 + 20 * i;
            Assert.Equal(expected[i], (Zp(at, 8), Zp(at + 8, 8), (uint)Zp(at + 16, 4)));
        }

        Assert.Equal(0UL, Zp(0x2d0 + 20 * 5, 8));
    }

    [Fact]
    public void E820MapSplitsRamAroundTheMmioHole()
    {
        var map = E820.ForRam(6UL << 30);
        Assert.Contains(new E820Entry(0x100000, 0xc000_0000 - 0x100000, E820Type.Ram), map);
        Assert.Contains(new E820Entry(0x1_0000_0000, 3UL << 30, E820Type.Ram), map);
        Assert.DoesNotContain(map, e => e.Type == E820Type.Ram && e.Address < 0x1_0000_0000 && e.End > 0xc000_0000);
        Assert.Equal(7UL << 30, E820.RamTop(6UL << 30));

        // Sorted and non-overlapping.
        for (int i = 1; i < map.Count; i++)
        {
            Assert.True(map[i - 1].End <= map[i].Address);
        }
    }

    [Fact]
    public void InitrdGoesHighPageAlignedBelowRamEnd()
    {
        var initrd = new byte[10000];
        new Random(2).NextBytes(initrd);
        var info = Boot(BzImage(Code), initrd: initrd);
        ulong expected = (Ram - 10000) & ~0xfffUL;
        Assert.Equal(expected, info.InitrdAddress);
        Assert.Equal(expected, Zp(0x218, 4)); // ramdisk_image
        Assert.Equal(10000UL, Zp(0x21c, 4)); // ramdisk_size
        Assert.Equal(0UL, Zp(0xc0, 4)); // ext_ramdisk_image
        Assert.Equal(0UL, Zp(0xc4, 4)); // ext_ramdisk_size
        Assert.Equal(initrd, mem.Span(expected, initrd.Length).ToArray());
    }

    [Fact]
    public void InitrdRespectsInitrdAddrMax()
    {
        var initrd = new byte[5000];
        var info = Boot(BzImage(Code, new BzOptions { InitrdAddrMax = 0x2ff_ffff }), initrd: initrd);
        Assert.Equal((0x300_0000UL - 5000) & ~0xfffUL, info.InitrdAddress);
    }

    [Fact]
    public void ElfKernelGetsTheMadeUpHeader()
    {
        byte[] elf = Elf(0x100_0000, [new ElfSegment(0xffff_ffff_8100_0000, 0x100_0000, Code, 0x1000)]);
        var info = Boot(elf);
        Assert.Equal(0x100_0000UL, info.Cpu.Rip);
        Assert.Equal(0x53726448UL, Zp(0x202, 4));
        Assert.Equal(0x020fUL, Zp(0x206, 2));
        Assert.Equal(0xffUL, Zp(0x210, 1));
        Assert.Equal(0x7fffffffUL, Zp(0x22c, 4));
    }

    // ---- placement errors ----

    [Fact]
    public void KernelNotFittingInRam()
    {
        using var small = new GuestMemory(16 << 20); // the decompressor wants 16 MiB + init_size
        var e = Assert.Throws<BootImageException>(() => LinuxBoot.Load(small, new LinuxBootOptions { Kernel = BzImage(Code), KernelName = "vmlinuz-big" }));
        Assert.Equal("vmlinuz-big", e.FileName);
        Assert.Contains("does not fit in RAM", e.Message);
    }

    [Fact]
    public void InitrdNotFittingInRam()
    {
        var e = Assert.Throws<BootImageException>(() => Boot(BzImage(Code), initrd: new byte[60 << 20]));
        Assert.Equal("initrd.img", e.FileName);
        Assert.Contains("does not fit", e.Message);
    }

    [Fact]
    public void CommandLineTooLong()
    {
        var e = Assert.Throws<BootImageException>(() => Boot(BzImage(Code), cmdline: new string('x', 2048)));
        Assert.Contains("command line too long: 2048 bytes", e.Message);
        Boot(BzImage(Code), cmdline: new string('x', 2047)); // exactly cmdline_size is fine
        Assert.Equal(0, mem.Span(0x20000 + 2047, 1)[0]);
    }

    [Fact]
    public void MissingFileIsABootImageError()
    {
        var e = Assert.Throws<BootImageException>(() => LinuxBoot.LoadFiles(mem, "/nonexistent/vmlinuz", null, ""));
        Assert.Equal("/nonexistent/vmlinuz", e.FileName);
    }
}

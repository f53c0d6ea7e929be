using Emulator.Machine.Boot;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Machine.Tests.TestImages;

namespace Emulator.Machine.Tests;

/// <summary>bzImage and ELF parsing, and every kind of bad input, from synthetic images.</summary>
public class KernelImageTests
{
    private static readonly byte[] Code = [0x48, 0x31, 0xc0, 0xf4]; // xor rax, rax; hlt

    [Fact]
    public void BzImageSetupHeaderIsRead()
    {
        byte[] file = BzImage(Code);
        var k = KernelImage.Parse(file, "bz");
        Assert.Equal(KernelFormat.BzImage, k.Format);
        Assert.Equal(0x020f, k.ProtocolVersion);
        Assert.Equal(0x100000UL, k.LoadAddress);
        Assert.Equal(0x100200UL, k.EntryPoint64); // startup_64 = load address + 0x200
        Assert.Equal(0x200000u, k.KernelAlignment);
        Assert.True(k.Relocatable);
        Assert.Equal(0x1000000UL, k.PrefAddress);
        Assert.Equal(0x400000u, k.InitSize);
        Assert.Equal(2047u, k.CmdlineSize);
        Assert.Equal(0x7fffffffu, k.InitrdAddrMax);

        // The protected-mode kernel is the syssize * 16 bytes after (4 + 1) sectors.
        var seg = Assert.Single(k.Segments);
        Assert.Equal(0x100000UL, seg.PhysicalAddress);
        Assert.Equal(file.Length - 5 * 512, seg.Data.Length);
        Assert.Equal(file.AsSpan(5 * 512).ToArray(), seg.Data.ToArray());

        // The decompressor runs at max(align_up(1 MiB, 2 MiB), pref_address) = 16 MiB for init_size bytes.
        Assert.Equal(0x1000000UL + 0x400000, k.ReservedEnd);

        // The header copied for boot_params runs from 0x1F1 to 0x202 + byte[0x201].
        Assert.Equal(0x26c - 0x1f1, k.Header.Length);
        Assert.Equal(file.AsSpan(0x1f1, k.Header.Length).ToArray(), k.Header);
    }

    [Fact]
    public void SetupSectsZeroMeansFour()
    {
        byte[] file = BzImage(Code, new BzOptions { SetupSectsField = 0, SetupSects = 4 });
        var k = KernelImage.Parse(file, "bz");
        Assert.Equal(file.AsSpan(5 * 512).ToArray(), k.Segments[0].Data.ToArray());
    }

    [Fact]
    public void OtherSetupSizesMoveThePayload()
    {
        byte[] file = BzImage(Code, new BzOptions { SetupSectsField = 30, SetupSects = 30 });
        var k = KernelImage.Parse(file, "bz");
        Assert.Equal(file.AsSpan(31 * 512).ToArray(), k.Segments[0].Data.ToArray());
    }

    [Fact]
    public void ElfSegmentsLoadAtPhysicalAddressesAndTheEntryIsMadePhysical()
    {
        const ulong VBase = 0xffff_ffff_8100_0000, PBase = 0x100_0000;
        byte[] text = [.. Code, 0xcc, 0xcc];
        byte[] data = [1, 2, 3, 4];
        byte[] file = Elf(VBase + 2, [
            new ElfSegment(VBase, PBase, text, 0x1000),
            new ElfSegment(VBase + 0x20_0000, PBase + 0x20_0000, data, 0x3000), // .data + .bss
        ]);
        var k = KernelImage.Parse(file, "vmlinux");
        Assert.Equal(KernelFormat.Elf, k.Format);
        Assert.Equal(PBase + 2, k.EntryPoint64); // e_entry - (p_vaddr - p_paddr)
        Assert.Equal(PBase, k.LoadAddress);
        Assert.Equal(PBase + 0x20_0000 + 0x3000, k.ReservedEnd);
        Assert.Equal(2, k.Segments.Count);
        Assert.Equal(PBase + 0x20_0000, k.Segments[1].PhysicalAddress);
        Assert.Equal(data, k.Segments[1].Data.ToArray());
        Assert.Equal(0x3000UL, k.Segments[1].MemorySize);

        // The made-up header: protocol 2.15, "HdrS", 64-bit, 2 MiB alignment, COMMAND_LINE_SIZE - 1.
        Assert.Equal(0x020f, k.ProtocolVersion);
        Assert.Equal(0x53726448UL, Read(k.Header, 0x202 - 0x1f1, 4));
        Assert.Equal(0x020fUL, Read(k.Header, 0x206 - 0x1f1, 2));
        Assert.Equal(0x26c - 0x202, k.Header[0x201 - 0x1f1]);
        Assert.Equal(0x200000UL, Read(k.Header, 0x230 - 0x1f1, 4));
        Assert.Equal(1UL, Read(k.Header, 0x236 - 0x1f1, 2) & 1);
        Assert.Equal(2047UL, Read(k.Header, 0x238 - 0x1f1, 4));
        Assert.Equal(PBase, Read(k.Header, 0x258 - 0x1f1, 8));
    }

    [Fact]
    public void ElfWithAPhysicalEntryKeepsIt()
    {
        byte[] file = Elf(0x100_0000, [new ElfSegment(0xffff_ffff_8100_0000, 0x100_0000, Code, 0x1000)]);
        Assert.Equal(0x100_0000UL, KernelImage.Parse(file, "vmlinux").EntryPoint64);
    }

    [Fact]
    public void ElfBssIsZeroedWhenLoaded()
    {
        byte[] file = Elf(0x100_0000, [new ElfSegment(0x100_0000, 0x100_0000, Code, 0x2000)]);
        using var mem = new GuestMemory(32 << 20);
        mem.Span(0x100_0000 + 0x100, 1)[0] = 0xaa; // stale data where .bss goes
        LinuxBoot.Load(mem, new LinuxBootOptions { Kernel = file });
        Assert.Equal(Code, mem.Span(0x100_0000, Code.Length).ToArray());
        Assert.Equal(0, mem.Span(0x100_0000 + 0x100, 1)[0]);
    }

    // ---- bad input: a BootImageException naming the file and the reason ----

    private static BootImageException Fails(byte[] file, string name = "bad-kernel")
    {
        var e = Assert.Throws<BootImageException>(() => KernelImage.Parse(file, name));
        Assert.Equal(name, e.FileName);
        Assert.StartsWith(name + ": ", e.Message);
        return e;
    }

    [Fact]
    public void NeitherBzImageNorElf()
    {
        var junk = new byte[4096];
        new Random(1).NextBytes(junk);
        Assert.Contains("not a kernel", Fails(junk).Reason);
        Assert.Contains("not a kernel", Fails([1, 2, 3]).Reason);
        Assert.Contains("not a kernel", Fails([]).Reason);
    }

    [Fact]
    public void TruncatedBzImage()
    {
        byte[] file = BzImage(Code);
        Assert.Contains("truncated", Fails(file[..(file.Length - 1)]).Reason);
        Assert.Contains("truncated", Fails(file[..0x210]).Reason); // inside the setup header
    }

    [Fact]
    public void TruncatedElf()
    {
        byte[] file = Elf(0x100_0000, [new ElfSegment(0x100_0000, 0x100_0000, Code, 0x1000)]);
        Assert.Contains("truncated", Fails(file[..(file.Length - 1)]).Reason); // segment data cut
        Assert.Contains("truncated", Fails(file[..80]).Reason); // program header cut
        Assert.Contains("truncated", Fails(file[..40]).Reason); // ELF header cut
    }

    [Fact]
    public void EveryPrefixOfAValidImageFailsCleanly()
    {
        // Never an index exception, whatever the cut.
        byte[] bz = BzImage(Code);
        byte[] elf = Elf(0x100_0000, [new ElfSegment(0x100_0000, 0x100_0000, Code, 0x1000)]);
        foreach (byte[] file in new[] { bz, elf })
        {
            for (int n = 0; n < file.Length; n++)
            {
                Assert.Throws<BootImageException>(() => KernelImage.Parse(file[..n], "cut"));
            }
        }
    }

    [Fact]
    public void ProtocolTooOld()
    {
        var e = Fails(BzImage(Code, new BzOptions { Version = 0x020b }));
        Assert.Contains("2.11 is too old", e.Reason);
    }

    [Fact]
    public void NotSixtyFourBitCapable()
    {
        Assert.Contains("not a 64-bit kernel", Fails(BzImage(Code, new BzOptions { XLoadFlags = 0 })).Reason);
        byte[] elf32 = Elf(0x100_0000, [new ElfSegment(0x100_0000, 0x100_0000, Code, 0x1000)], elfClass: 1);
        Assert.Contains("not a 64-bit kernel", Fails(elf32).Reason);
        byte[] arm = Elf(0x100_0000, [new ElfSegment(0x100_0000, 0x100_0000, Code, 0x1000)], machine: 183);
        Assert.Contains("not x86-64", Fails(arm).Reason);
    }

    [Fact]
    public void ElfEntryOutsideEverySegment()
    {
        byte[] file = Elf(0x5000_0000, [new ElfSegment(0x100_0000, 0x100_0000, Code, 0x1000)]);
        Assert.Contains("not inside any PT_LOAD", Fails(file).Reason);
    }
}

namespace Emulator.Machine.Boot;

/// <summary>Address range types of the e820 map (ACPI 6.0, 15.1 "INT 15H, E820H").</summary>
public enum E820Type : uint
{
    Ram = 1,
    Reserved = 2,
    Acpi = 3,
    Nvs = 4,
}

public readonly record struct E820Entry(ulong Address, ulong Size, E820Type Type)
{
    public ulong End => Address + Size;

    /// <summary>Bytes of one entry in boot_params.e820_table: u64 addr, u64 size, u32 type.</summary>
    public const int EncodedSize = 20;
}

/// <summary>
/// The guest physical memory map the kernel is told about. RAM below 3 GiB sits at its own
/// address; RAM beyond 3 GiB continues at 4 GiB, leaving 0xC0000000-0xFFFFFFFF for MMIO (as
/// QEMU's below/above-4G split). The EBDA/BIOS area 0x9FC00-0xFFFFF (where the RSDP and ACPI
/// tables are) and the IOAPIC and local APIC pages are reserved.
/// </summary>
public static class E820
{
    public const ulong EbdaStart = 0x9_fc00;
    public const ulong HighMemoryStart = 0x10_0000;
    public const ulong MmioHoleStart = 0xc000_0000;
    public const ulong FourGiB = 0x1_0000_0000;
    public const ulong IoApicPage = 0xfec0_0000;
    public const ulong LocalApicPage = 0xfee0_0000;

    /// <summary>The smallest RAM the map can describe: 1 MiB of low memory plus 1 MiB above it.</summary>
    public const ulong MinimumRam = 2 * HighMemoryStart;

    /// <summary>RAM below the MMIO hole: where everything the boot loader writes must go.</summary>
    public static ulong LowRamEnd(ulong ramSize) => Math.Min(ramSize, MmioHoleStart);

    public static IReadOnlyList<E820Entry> ForRam(ulong ramSize)
    {
        if (ramSize < MinimumRam)
        {
            throw new ArgumentOutOfRangeException(nameof(ramSize), $"guest RAM of 0x{ramSize:x} bytes is below the 2 MiB a Linux guest needs");
        }

        var map = new List<E820Entry>
        {
            new(0, EbdaStart, E820Type.Ram),
            new(EbdaStart, HighMemoryStart - EbdaStart, E820Type.Reserved),
            new(HighMemoryStart, LowRamEnd(ramSize) - HighMemoryStart, E820Type.Ram),
            new(IoApicPage, 0x1000, E820Type.Reserved),
            new(LocalApicPage, 0x1000, E820Type.Reserved),
        };
        if (ramSize > MmioHoleStart)
        {
            map.Add(new E820Entry(FourGiB, ramSize - MmioHoleStart, E820Type.Ram));
        }

        return map;
    }

    /// <summary>The highest guest physical address of RAM plus one.</summary>
    public static ulong RamTop(ulong ramSize) => ramSize > MmioHoleStart ? FourGiB + (ramSize - MmioHoleStart) : ramSize;
}

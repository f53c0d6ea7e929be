namespace Emulator.Machine.Boot;

/// <summary>
/// Where the boot loader puts its own structures: all in conventional memory below the EBDA
/// (0x9FC00) and below the kernel at 1 MiB, clear of the BIOS data area (0x400-0x4FF), in the
/// places Firecracker uses. The kernel copies boot_params and the command line early and builds
/// its own GDT and page tables before it hands low memory to its allocator, so e820 may call
/// this RAM (boot.rst allows the loader's structures anywhere the kernel can reach).
/// </summary>
public static class BootLayout
{
    /// <summary>The boot GDT: null, unused, __BOOT_CS (0x10), __BOOT_DS (0x18).</summary>
    public const ulong GdtAddress = 0x500;

    public const ulong BootParamsAddress = 0x7000;

    /// <summary>A small stack for the entry code (16-byte aligned, below the page tables).</summary>
    public const ulong StackTop = 0x8ff0;

    /// <summary>Identity-map page tables: PML4, PDPT, then four page directories (first 4 GiB in 2 MiB pages).</summary>
    public const ulong Pml4Address = 0x9000;
    public const ulong PdptAddress = 0xa000;
    public const ulong PdAddress = 0xb000;
    public const int PdCount = 4;
    public const ulong PageTablesEnd = PdAddress + PdCount * 0x1000;

    public const ulong CommandLineAddress = 0x2_0000;

    /// <summary>Room for the command line and its NUL (the kernel's own limit, cmdline_size, is usually 2047).</summary>
    public const ulong CommandLineMax = 0x1_0000;
}

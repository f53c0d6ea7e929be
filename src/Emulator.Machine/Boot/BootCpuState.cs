using System.Buffers.Binary;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;

namespace Emulator.Machine.Boot;

/// <summary>
/// The vCPU state the 64-bit boot protocol asks for (boot.rst, "64-bit Boot Protocol"): long
/// mode with paging and an identity map covering the kernel, boot_params and the command line
/// (here: all of RAM and the MMIO hole), a GDT with __BOOT_CS = 0x10 (64-bit code) and
/// __BOOT_DS = 0x18 (data), CS = __BOOT_CS, DS = ES = SS = __BOOT_DS, interrupts disabled,
/// RSI = the physical address of boot_params.
/// </summary>
public sealed record BootCpuState
{
    public const ushort BootCs = 0x10, BootDs = 0x18;

    /// <summary>Flat 4 GiB 64-bit code, DPL 0, present, accessed (type 0xB): G=1, L=1, D=0.</summary>
    public const ulong CodeDescriptor = 0x00af_9b00_0000_ffff;

    /// <summary>Flat 4 GiB read/write data, DPL 0, present, accessed (type 0x3): G=1, B=1.</summary>
    public const ulong DataDescriptor = 0x00cf_9300_0000_ffff;

    public const ulong Cr0PE = 1 << 0, Cr0MP = 1 << 1, Cr0ET = 1 << 4, Cr0NE = 1 << 5, Cr0PG = 1UL << 31;
    public const ulong Cr4PAE = 1 << 5;
    public const ulong EferLME = 1 << 8, EferLMA = 1 << 10;

    public required ulong Rip { get; init; }

    public required ulong Rsi { get; init; }

    /// <summary>EAX/RAX at entry (the Multiboot magic; 0 for Linux).</summary>
    public ulong Rax { get; init; }

    /// <summary>EBX/RBX at entry (the Multiboot information address; 0 for Linux).</summary>
    public ulong Rbx { get; init; }

    /// <summary>The descriptor CS is loaded from (GDT entry <see cref="BootCs"/>): 64-bit code unless a loader says otherwise.</summary>
    public ulong Code { get; init; } = CodeDescriptor;

    public ulong Rsp { get; init; } = BootLayout.StackTop;

    /// <summary>PE, MP, ET, NE, PG: protected mode with paging, native x87 error reporting, caches on.</summary>
    public ulong Cr0 { get; init; } = Cr0PE | Cr0MP | Cr0ET | Cr0NE | Cr0PG;

    public ulong Cr3 { get; init; } = BootLayout.Pml4Address;

    /// <summary>PAE only: the kernel enables the rest (PGE, OSFXSR ...) itself.</summary>
    public ulong Cr4 { get; init; } = Cr4PAE;

    public ulong Efer { get; init; } = EferLME | EferLMA;

    /// <summary>Only the reserved bit 1: IF = 0.</summary>
    public ulong Rflags { get; init; } = 0x2;

    public ulong GdtBase { get; init; } = BootLayout.GdtAddress;

    public ushort GdtLimit { get; init; } = 4 * 8 - 1;

    /// <summary>Writes the GDT and identity-map page tables into guest memory (the structures CR3 and GDTR point at).</summary>
    public static void WriteTables(GuestMemory memory, ulong ramTop)
    {
        WriteGdt(memory, CodeDescriptor);
        WritePageTables(memory, ramTop);
    }

    /// <summary>Writes the boot GDT: null, unused, <paramref name="code"/> at <see cref="BootCs"/>, flat data at <see cref="BootDs"/>.</summary>
    public static void WriteGdt(GuestMemory memory, ulong code)
    {
        var gdt = memory.Span(BootLayout.GdtAddress, 32);
        gdt.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[BootCs..], code);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt[BootDs..], DataDescriptor);
    }

    /// <summary>
    /// Identity map (SDM Vol. 3A 4.5): the first 4 GiB with 2 MiB pages through four page
    /// directories, and RAM above 4 GiB with 1 GiB pages straight from the PDPT (up to 512 GiB).
    /// Entries are present and writable, supervisor only.
    /// </summary>
    public static void WritePageTables(GuestMemory memory, ulong ramTop)
    {
        const ulong Present = 1, Writable = 2, PageSize = 1 << 7;
        const ulong OneGiB = 1UL << 30;
        if (ramTop > 512 * OneGiB)
        {
            throw new ArgumentOutOfRangeException(nameof(ramTop), "the boot identity map covers at most 512 GiB (one PDPT)");
        }

        var pml4 = memory.Span(BootLayout.Pml4Address, 4096);
        pml4.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(pml4, BootLayout.PdptAddress | Present | Writable);

        var pdpt = memory.Span(BootLayout.PdptAddress, 4096);
        pdpt.Clear();
        ulong gibs = Math.Max(4, (ramTop + OneGiB - 1) / OneGiB);
        for (ulong g = 0; g < gibs; g++)
        {
            ulong entry = g < BootLayout.PdCount
                ? (BootLayout.PdAddress + g * 0x1000) | Present | Writable
                : (g * OneGiB) | Present | Writable | PageSize;
            BinaryPrimitives.WriteUInt64LittleEndian(pdpt[(int)(g * 8)..], entry);
        }

        var pd = memory.Span(BootLayout.PdAddress, BootLayout.PdCount * 4096);
        for (int i = 0; i < BootLayout.PdCount * 512; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(pd[(i * 8)..], ((ulong)i << 21) | Present | Writable | PageSize);
        }
    }

    /// <summary>
    /// Loads this state into <paramref name="cpu"/>, which should be fresh from reset. Segment
    /// caches get exactly what loading the GDT's descriptors would give.
    /// </summary>
    public void Apply(Cpu cpu)
    {
        ref var s = ref cpu.S;
        for (var r = Gpr.Rax; r <= Gpr.R15; r++)
        {
            cpu.Reg(r) = 0;
        }

        cpu.Reg(Gpr.Rax) = Rax;
        cpu.Reg(Gpr.Rbx) = Rbx;
        cpu.Reg(Gpr.Rsi) = Rsi;
        cpu.Reg(Gpr.Rsp) = Rsp;
        s.Rip = Rip;
        cpu.Rflags = Rflags;
        s.Cr0 = Cr0;
        s.Cr3 = Cr3;
        s.Cr4 = Cr4;
        s.Efer = Efer;
        s.Gdtr.Base = GdtBase;
        s.Gdtr.Limit = GdtLimit;

        var code = new Descriptor(Code, 0);
        var data = new Descriptor(DataDescriptor, 0);
        LoadHidden(ref s.Cs, BootCs, code);
        foreach (var seg in new[] { Seg.Ds, Seg.Es, Seg.Ss, Seg.Fs, Seg.Gs })
        {
            LoadHidden(ref cpu.Segment(seg), BootDs, data);
        }

        s.InterruptShadow = 0;
        s.Halted = 0;
        s.ExceptionVector = -1;
        cpu.FlushTlb();
        cpu.OnPrivilegeChange();
    }

    private static void LoadHidden(ref SegmentReg reg, ushort selector, Descriptor d)
    {
        reg.Selector = selector;
        reg.Base = d.Base;
        reg.Limit = d.Limit;
        reg.Attrs = d.Attrs;
    }
}

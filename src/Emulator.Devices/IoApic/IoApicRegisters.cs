namespace Emulator.Devices.Apic;

/// <summary>82093AA I/O APIC registers (datasheet section 3): the two MMIO windows and the indirect registers behind them.</summary>
public static class IoApicRegisters
{
    /// <summary>Default physical base (the MADT's I/O APIC entry gives it to the OS).</summary>
    public const ulong DefaultBase = 0xFEC0_0000;

    public const int MmioSize = 0x1000;

    // Direct (memory-mapped) registers, datasheet 3.1.
    public const int IoRegSel = 0x00;
    public const int IoWin = 0x10;

    /// <summary>EOI register of version 0x20 parts (as in the ICH's I/O APIC): writing a vector acts as an EOI broadcast for it.</summary>
    public const int Eoi = 0x40;

    // Indirect registers, selected by IOREGSEL (datasheet 3.2).
    public const int IoApicId = 0x00;
    public const int IoApicVer = 0x01;
    public const int IoApicArb = 0x02;
    public const int RedirectionTableBase = 0x10;

    public const int PinCount = 24;

    /// <summary>IOAPICVER: version 0x20, maximum redirection entry 23 in bits 23:16.</summary>
    public const uint VersionValue = ((PinCount - 1) << 16) | 0x20;

    /// <summary>IOAPICID: the ID in bits 27:24.</summary>
    public const uint IdMask = 0x0F00_0000;

    // Redirection entry fields (datasheet 3.2.4).
    public const ulong VectorMask = 0xFF;
    public const int DeliveryModeShift = 8;
    public const ulong LogicalDestination = 1 << 11;
    public const ulong DeliveryStatus = 1 << 12;
    public const ulong ActiveLow = 1 << 13;
    public const ulong RemoteIrr = 1 << 14;
    public const ulong LevelTriggered = 1 << 15;
    public const ulong Masked = 1 << 16;
    public const int DestinationShift = 56;

    /// <summary>Writable bits of an entry: vector, delivery mode, destination mode, polarity, trigger mode, mask, destination.</summary>
    public const ulong EntryWritable = 0xFF00_0000_0001_AFFF;
}

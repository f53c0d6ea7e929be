using System.Buffers.Binary;

namespace Emulator.Machine.Acpi;

/// <summary>
/// The Multiple APIC Description Table (ACPI 6.0, 5.2.12), revision 4: the local APIC address
/// with PCAT_COMPAT (dual 8259s present), one enabled Processor Local APIC per vCPU, the I/O
/// APIC at GSI base 0, the ISA overrides (IRQ 0 to GSI 2, the SCI level-triggered) and LINT1
/// as NMI on every processor.
/// </summary>
public static class Madt
{
    public const byte Revision = 4;

    public const uint PCAT_COMPAT = 1;

    // Interrupt controller structure types (Table 5-45).
    public const byte TypeLocalApic = 0, TypeIoApic = 1, TypeInterruptSourceOverride = 2, TypeLocalApicNmi = 4;

    /// <summary>Local APIC flags: Enabled (Table 5-47).</summary>
    public const uint LocalApicEnabled = 1;

    // MPS INTI flags (Table 5-50): polarity bits 1:0, trigger mode bits 3:2.
    public const ushort ActiveHigh = 0b01, ActiveLow = 0b11, Edge = 0b01 << 2, Level = 0b11 << 2;

    public static byte[] Build(AcpiConfig config)
    {
        if (config.CpuCount is < 1 or > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(config), $"the MADT describes 1 to 255 xAPIC CPUs, not {config.CpuCount}");
        }

        var body = new List<byte>();
        body.AddRange(U32(config.LocalApicAddress));
        body.AddRange(U32(PCAT_COMPAT));
        for (int i = 0; i < config.CpuCount; i++)
        {
            // Processor Local APIC (5.2.12.2): type, length 8, ACPI processor UID, APIC ID, flags.
            body.AddRange([TypeLocalApic, 8, (byte)i, (byte)i, .. U32(LocalApicEnabled)]);
        }

        // I/O APIC (5.2.12.3): type, length 12, ID, reserved, address, GSI base.
        body.AddRange([TypeIoApic, 12, config.IoApicId, 0, .. U32(config.IoApicAddress), .. U32(0)]);

        // Interrupt Source Overrides (5.2.12.5): type, length 10, bus 0 (ISA), source IRQ, GSI, flags.
        body.AddRange(Override(0, 2, ActiveHigh | Edge)); // the PIT is wired to IOAPIC pin 2
        body.AddRange(Override(config.SciIrq, config.SciIrq, ActiveHigh | Level));

        // Local APIC NMI (5.2.12.7): type, length 6, processor UID 0xFF (all), flags 0 (conforms to the bus), LINT1.
        body.AddRange([TypeLocalApicNmi, 6, 0xff, 0, 0, 1]);
        return AcpiTable.Build("APIC", Revision, body.ToArray());
    }

    private static byte[] Override(byte irq, uint gsi, ushort flags) => [TypeInterruptSourceOverride, 10, 0, irq, .. U32(gsi), (byte)flags, (byte)(flags >> 8)];

    private static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }
}

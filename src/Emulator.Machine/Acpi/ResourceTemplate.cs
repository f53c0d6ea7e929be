namespace Emulator.Machine.Acpi;

/// <summary>
/// Builds the byte stream of an ASL ResourceTemplate (ACPI 6.0, 6.4 "Resource Data Types for
/// ACPI"): small and large resource descriptors followed by an End Tag. <see cref="ToBuffer"/>
/// wraps it in an AML Buffer for a _CRS object.
/// </summary>
public sealed class ResourceTemplate
{
    private readonly List<byte> bytes = [];

    /// <summary>IO(Decode16, min, max, alignment, length): I/O Port Descriptor (6.4.2.5), small item 0x08, 7 bytes.</summary>
    public ResourceTemplate Io(ushort minimum, ushort maximum, byte alignment, byte length)
    {
        // Byte 0 = 0x47 (type 0x08 << 3 | length 7); information bit 0 = 1: decodes 16 address bits.
        bytes.AddRange([0x47, 0x01, (byte)minimum, (byte)(minimum >> 8), (byte)maximum, (byte)(maximum >> 8), alignment, length]);
        return this;
    }

    /// <summary>IRQNoFlags() { irq }: IRQ Descriptor (6.4.2.1) in its 2-byte form (edge, active high, exclusive).</summary>
    public ResourceTemplate IrqNoFlags(int irq)
    {
        if (irq is < 0 or > 15)
        {
            throw new ArgumentOutOfRangeException(nameof(irq), "an IRQ descriptor names ISA IRQs 0-15");
        }

        ushort mask = (ushort)(1 << irq);
        bytes.AddRange([0x22, (byte)mask, (byte)(mask >> 8)]);
        return this;
    }

    /// <summary>Memory32Fixed(ReadWrite or ReadOnly, base, length): 32-bit Fixed Memory Range Descriptor (6.4.3.4), large item 0x06.</summary>
    public ResourceTemplate Memory32Fixed(uint baseAddress, uint length, bool writable = true)
    {
        bytes.AddRange([0x86, 9, 0, (byte)(writable ? 1 : 0)]);
        AddUInt32(baseAddress);
        AddUInt32(length);
        return this;
    }

    /// <summary>
    /// Interrupt(ResourceConsumer, Level or Edge, ActiveHigh or ActiveLow, Exclusive or Shared) { gsi }:
    /// Extended Interrupt Descriptor (6.4.3.6), large item 0x09, one interrupt, no resource source.
    /// </summary>
    public ResourceTemplate Interrupt(uint gsi, bool edge = false, bool activeLow = false, bool shared = false)
    {
        // Flags: bit 0 consumer, bit 1 edge (0 = level), bit 2 active low, bit 3 shared.
        byte flags = (byte)(1 | (edge ? 2 : 0) | (activeLow ? 4 : 0) | (shared ? 8 : 0));
        bytes.AddRange([0x89, 6, 0, flags, 1]);
        AddUInt32(gsi);
        return this;
    }

    /// <summary>The descriptors followed by the End Tag (6.4.2.9) with checksum 0 ("treated as valid").</summary>
    public byte[] ToBytes() => [.. bytes, 0x79, 0x00];

    public byte[] ToBuffer() => Aml.Buffer(ToBytes());

    private void AddUInt32(uint v) => bytes.AddRange([(byte)v, (byte)(v >> 8), (byte)(v >> 16), (byte)(v >> 24)]);
}

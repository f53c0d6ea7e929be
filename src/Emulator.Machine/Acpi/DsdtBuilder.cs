using Emulator.Devices.AcpiPm;

namespace Emulator.Machine.Acpi;

/// <summary>
/// The Differentiated System Description Table's definition block: \_S5 at the root, and the
/// machine's devices in \_SB. Devices the kernel cannot probe (virtio-mmio in particular:
/// Debian's kernel finds virtio-mmio devices only through ACPI) are described here, as QEMU's
/// microvm machine does.
/// </summary>
public sealed class DsdtBuilder
{
    /// <summary>The _HID Linux's virtio_mmio driver matches in ACPI (drivers/virtio/virtio_mmio.c).</summary>
    public const string VirtioMmioHid = "LNRO0005";

    /// <summary>DSDT revision 2: integers are 64 bits (ACPI 6.0, 5.2.11.1).</summary>
    public const byte Revision = 2;

    private readonly List<byte[]> systemBus = [];
    private int virtioCount;

    /// <summary>The microvm set: COM1 on 0x3F8, IRQ 4. Add virtio devices with <see cref="AddVirtioMmio"/>.</summary>
    public static DsdtBuilder ForMicrovm() => new DsdtBuilder().AddSerialPort("COM1", 1, 0x3f8, 4);

    /// <summary>Number of virtio-mmio devices added so far (the next one's _UID).</summary>
    public int VirtioMmioCount => virtioCount;

    /// <summary>A 16550 UART: _HID PNP0501, its eight ports and its ISA IRQ.</summary>
    public DsdtBuilder AddSerialPort(string name, int uid, ushort port, int irq)
    {
        systemBus.Add(SerialPortDevice(name, uid, port, irq));
        return this;
    }

    /// <summary>
    /// A virtio-mmio transport: Device (VRnn) with _HID "LNRO0005", _UID n (n counts from 0 in
    /// the order of calls), _CCA 1, and _CRS = Memory32Fixed(base, size) + Interrupt(level,
    /// active high, exclusive) { gsi }, exactly as QEMU's microvm writes it.
    /// </summary>
    public DsdtBuilder AddVirtioMmio(ulong baseAddress, uint size, uint gsi)
    {
        if (baseAddress + size > 0x1_0000_0000UL)
        {
            throw new ArgumentOutOfRangeException(nameof(baseAddress), $"virtio-mmio window 0x{baseAddress:x}+0x{size:x} must lie below 4 GiB (Memory32Fixed)");
        }

        if (virtioCount > 99)
        {
            throw new InvalidOperationException("at most 100 virtio-mmio devices (names VR00-VR99)");
        }

        int n = virtioCount++;
        systemBus.Add(Aml.Device($"VR{n:D2}",
            Aml.Name("_HID", Aml.String(VirtioMmioHid)),
            Aml.Name("_UID", Aml.Integer((ulong)n)),
            Aml.Name("_CCA", Aml.Integer(1)),
            Aml.Name("_CRS", new ResourceTemplate().Memory32Fixed((uint)baseAddress, size).Interrupt(gsi).ToBuffer())));
        return this;
    }

    /// <summary>Adds an already encoded Device (or other term) to \_SB, for parts of the machine with their own description.</summary>
    public DsdtBuilder AddToSystemBus(byte[] term)
    {
        systemBus.Add(term);
        return this;
    }

    public static byte[] SerialPortDevice(string name, int uid, ushort port, int irq) =>
        Aml.Device(name,
            Aml.Name("_HID", Aml.EisaId("PNP0501")),
            Aml.Name("_UID", Aml.Integer((ulong)uid)),
            Aml.Name("_CRS", new ResourceTemplate().Io(port, port, 1, 8).IrqNoFlags(irq).ToBuffer()));

    /// <summary>
    /// \_S5 = Package {SLP_TYPa, SLP_TYPb, 0, 0} (ACPI 6.0, 7.4.2): the value the OS writes to
    /// PM1a_CNT.SLP_TYP to power off; it is the value <see cref="AcpiPmDevice"/> decodes as S5.
    /// </summary>
    public static byte[] S5Object() =>
        Aml.Name("_S5_", Aml.Package(Aml.Integer(AcpiPmRegisters.SlpTypS5), Aml.Integer(AcpiPmRegisters.SlpTypS5), Aml.Integer(0), Aml.Integer(0)));

    /// <summary>The AML term list (the table body after the header).</summary>
    public byte[] BuildAml() => [.. S5Object(), .. Aml.Scope("\\_SB_", [.. systemBus])];

    /// <summary>The complete DSDT with header and checksum.</summary>
    public byte[] Build() => AcpiTable.Build("DSDT", Revision, BuildAml());
}

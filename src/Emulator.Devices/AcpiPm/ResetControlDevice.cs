using Emulator.Devices.Bus;
using static Emulator.Devices.AcpiPm.ResetControlRegisters;

namespace Emulator.Devices.AcpiPm;

/// <summary>
/// The Reset Control Register (RST_CNT) at I/O port 0xCF9, one byte: the FADT's RESET_REG.
/// Writing a value with RST_CPU set raises <see cref="ResetRequested"/>; Linux writes 0x06
/// (ACPI reboot) or 0x02 then 0x06/0x0E (its "pci" reboot method), both of which work.
/// </summary>
public sealed partial class ResetControlDevice : IIoDevice
{
    private byte value;

    public string Name => "reset-control";

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>The guest asked for a reset; the argument is true for a hard (SYS_RST) reset.</summary>
    public event Action<bool>? ResetRequested;

    public void Reset() => value = 0;

    public ulong Read(ulong offset, int size)
    {
        if (offset != 0 || size != 1)
        {
            Unexpected.Record(Name, $"read of {size} bytes at +0x{offset:x}");
            return 0;
        }

        return value;
    }

    public void Write(ulong offset, int size, ulong data)
    {
        if (offset != 0 || size != 1)
        {
            Unexpected.Record(Name, $"write of {size} bytes at +0x{offset:x}");
            return;
        }

        byte b = (byte)data;
        value = (byte)(b & (SYS_RST | FULL_RST));
        if ((b & RST_CPU) != 0)
        {
            ResetRequested?.Invoke((b & SYS_RST) != 0);
        }
    }
}

namespace Emulator.Devices.DebugPort;

/// <summary>The POST diagnostic port: BIOSes write progress codes to it and Linux writes to it as an I/O delay (outb_p).</summary>
public static class DebugPort0x80Registers
{
    public const ushort Port = 0x80;
}

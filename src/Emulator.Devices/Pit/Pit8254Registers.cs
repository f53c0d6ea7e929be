namespace Emulator.Devices.Pit;

/// <summary>
/// Ports and control-word fields of the Intel 8254 programmable interval timer (datasheet
/// "Programming the 8254": control word format, read-back command, status byte) and of the PC's
/// system control port B at 0x61, which gates counter 2 and reads back its OUT.
/// </summary>
public static class Pit8254Registers
{
    public const ushort Base = 0x40;
    public const int PortCount = 4;
    public const int Counter0 = 0, Counter1 = 1, Counter2 = 2, ControlWord = 3;

    public const ushort SystemControlPortB = 0x61;

    /// <summary>The PC's PIT input clock: 14.31818 MHz / 12.</summary>
    public const long InputHz = 1_193_182;

    /// <summary>IRQ of counter 0's OUT on a PC.</summary>
    public const int Irq = 0;

    // Control word: SC1 SC0 | RW1 RW0 | M2 M1 M0 | BCD
    public const int SelectShift = 6;
    public const int AccessShift = 4;
    public const int ModeShift = 1;
    public const byte Bcd = 0x01;

    /// <summary>SC = 11 selects the read-back command.</summary>
    public const int ReadBackSelect = 3;

    // Read-back command: bit 5 = 0 latches the count, bit 4 = 0 latches the status, bits 3:1 select counters 2..0.
    public const byte ReadBackNoCount = 0x20;
    public const byte ReadBackNoStatus = 0x10;

    // Access modes (RW1 RW0); 00 in a control word is the counter latch command.
    public const int AccessLatch = 0;
    public const int AccessLsb = 1;
    public const int AccessMsb = 2;
    public const int AccessLsbMsb = 3;

    // Status byte (read-back): OUT, NULL COUNT, then the counter's RW, M and BCD bits.
    public const byte StatusOut = 0x80;
    public const byte StatusNullCount = 0x40;

    // Port 0x61 (system control port B) bits.
    public const byte PortBGate2 = 0x01;
    public const byte PortBSpeakerData = 0x02;
    public const byte PortBWritable = 0x0F; // bits 2 and 3 (parity/channel check enables) are kept but unused
    public const byte PortBRefreshToggle = 0x10;
    public const byte PortBOut2 = 0x20;
}

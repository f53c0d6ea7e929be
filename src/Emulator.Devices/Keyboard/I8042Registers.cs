namespace Emulator.Devices.Keyboard;

/// <summary>
/// The PC/AT keyboard controller (Intel 8042 with IBM's firmware): ports, status bits,
/// command byte bits, controller commands and output port bits, as the IBM PC/AT Technical
/// Reference documents them.
/// </summary>
public static class I8042Registers
{
    public const ushort DataPortAddress = 0x60;
    public const ushort CommandPortAddress = 0x64;

    /// <summary>Offsets relative to 0x60 when the controller is mapped as one device.</summary>
    public const int DataOffset = 0, CommandOffset = 4;

    public const int KeyboardIrq = 1;
    public const int AuxIrq = 12;

    // Status register (read 0x64)
    public const byte StatusOutputFull = 0x01;
    public const byte StatusInputFull = 0x02;
    public const byte StatusSystemFlag = 0x04;
    public const byte StatusCommand = 0x08;     // last write was to 0x64
    public const byte StatusUnlocked = 0x10;    // keyboard inhibit switch off
    public const byte StatusAuxOutputFull = 0x20;
    public const byte StatusTimeout = 0x40;
    public const byte StatusParityError = 0x80;

    // Command byte (controller RAM byte 0)
    public const byte CmdByteKeyboardInterrupt = 0x01;
    public const byte CmdByteAuxInterrupt = 0x02;
    public const byte CmdByteSystemFlag = 0x04;
    public const byte CmdByteKeyboardDisabled = 0x10;
    public const byte CmdByteAuxDisabled = 0x20;
    public const byte CmdByteTranslate = 0x40;

    // Controller commands (write 0x64)
    public const byte ReadCommandByte = 0x20;
    public const byte WriteCommandByte = 0x60;
    public const byte DisableAux = 0xA7;
    public const byte EnableAux = 0xA8;
    public const byte TestAux = 0xA9;
    public const byte SelfTest = 0xAA;
    public const byte TestKeyboard = 0xAB;
    public const byte DisableKeyboard = 0xAD;
    public const byte EnableKeyboard = 0xAE;
    public const byte ReadOutputPort = 0xD0;
    public const byte WriteOutputPort = 0xD1;
    public const byte WriteKeyboardOutput = 0xD2;
    public const byte WriteAuxOutput = 0xD3;
    public const byte WriteAux = 0xD4;
    public const byte DisableA20 = 0xDD;
    public const byte EnableA20 = 0xDF;

    /// <summary>Commands 0xF0-0xFF pulse the output port bits whose bit in the low nibble is 0; 0xFE pulses the reset line.</summary>
    public const byte PulseOutputPortBase = 0xF0;
    public const byte PulseReset = 0xFE;

    public const byte SelfTestPassed = 0x55;
    public const byte InterfaceTestPassed = 0x00;

    // Output port (0xD0/0xD1)
    public const byte OutputPortReset = 0x01; // active low: 0 resets the CPU
    public const byte OutputPortA20 = 0x02;
    public const byte OutputPortKeyboardFull = 0x10;
    public const byte OutputPortAuxFull = 0x20;
}

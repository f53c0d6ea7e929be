using Emulator.Devices.Bus;
using static Emulator.Devices.Keyboard.I8042Registers;

namespace Emulator.Devices.Keyboard;

/// <summary>
/// The PC keyboard controller at 0x60/0x64 without a keyboard or mouse attached: the status
/// register, the command byte, self and interface tests, the output port (A20 and the CPU reset
/// line) and the pulse commands, which is what Linux uses to probe it and to reboot. Bytes for
/// the (absent) keyboard or mouse are dropped. The device spans 0x60-0x64 (offsets 0 and 4);
/// <see cref="DataPort"/> and <see cref="CommandPort"/> map the two ports separately, since
/// 0x61 in between belongs to the PIT's port B. Not thread-safe.
/// </summary>
public sealed partial class I8042 : IIoDevice
{
    private readonly IInterruptLine keyboardIrq;
    private readonly IInterruptLine auxIrq;
    private byte commandByte, outputPort, outputBuffer, pendingCommand;
    private bool systemFlag, lastWriteWasCommand, outputFull, outputFromAux;
    private bool keyboardIrqLevel, auxIrqLevel;

    public I8042(IInterruptLine? keyboardIrq = null, IInterruptLine? auxIrq = null, string name = "i8042")
    {
        this.keyboardIrq = keyboardIrq ?? NullInterruptLine.Instance;
        this.auxIrq = auxIrq ?? NullInterruptLine.Instance;
        Name = name;
        DataPort = new PortView(this, DataOffset, name + "-data");
        CommandPort = new PortView(this, CommandOffset, name + "-cmd");

        // Power-on: interrupts enabled, translation on, reset line inactive, A20 enabled (no BIOS ran).
        commandByte = CmdByteKeyboardInterrupt | CmdByteAuxInterrupt | CmdByteTranslate;
        outputPort = OutputPortReset | OutputPortA20;
        lastWriteWasCommand = true;
    }

    public string Name { get; }

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>Port 0x60 alone (offset 0).</summary>
    public IIoDevice DataPort { get; }

    /// <summary>Port 0x64 alone (offset 0).</summary>
    public IIoDevice CommandPort { get; }

    /// <summary>Raised when the guest asserts the CPU reset line (0xFE, or output port bit 0 written as 0).</summary>
    public event Action? ResetRequested;

    /// <summary>Output port bit 1; the machine does not mask address line 20, this only reports it.</summary>
    public bool A20Enabled => (outputPort & OutputPortA20) != 0;

    public byte CommandByte => commandByte;

    public ulong Read(ulong offset, int size)
    {
        if (size != 1 || (offset != DataOffset && offset != CommandOffset))
        {
            Unexpected.Record(Name, $"read of {size} bytes at +{offset}");
            return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }

        return offset == DataOffset ? ReadData() : Status();
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 1 || (offset != DataOffset && offset != CommandOffset))
        {
            Unexpected.Record(Name, $"write of {size} bytes at +{offset}");
            return;
        }

        if (offset == DataOffset)
        {
            WriteData((byte)value);
        }
        else
        {
            WriteCommand((byte)value);
        }
    }

    private byte Status() => (byte)((outputFull ? StatusOutputFull : 0)
        | (outputFull && outputFromAux ? StatusAuxOutputFull : 0)
        | (systemFlag ? StatusSystemFlag : 0)
        | (lastWriteWasCommand ? StatusCommand : 0)
        | StatusUnlocked); // input buffer is never full: every write is handled at once

    private byte ReadData()
    {
        // With the output buffer empty the port still returns the last byte.
        outputFull = false;
        UpdateIrqs();
        return outputBuffer;
    }

    private void WriteCommand(byte command)
    {
        lastWriteWasCommand = true;
        pendingCommand = 0;
        switch (command)
        {
            case ReadCommandByte:
                Output(commandByte, aux: false);
                break;
            case WriteCommandByte:
            case WriteOutputPort:
            case WriteKeyboardOutput:
            case WriteAuxOutput:
            case WriteAux:
                pendingCommand = command; // the data byte follows on port 0x60
                break;
            case DisableAux:
                commandByte |= CmdByteAuxDisabled;
                break;
            case EnableAux:
                commandByte &= unchecked((byte)~CmdByteAuxDisabled);
                break;
            case TestAux:
            case TestKeyboard:
                Output(InterfaceTestPassed, aux: false);
                break;
            case SelfTest:
                // The self test passes and sets the system flag, as after a warm boot.
                systemFlag = true;
                Output(SelfTestPassed, aux: false);
                break;
            case DisableKeyboard:
                commandByte |= CmdByteKeyboardDisabled;
                break;
            case EnableKeyboard:
                commandByte &= unchecked((byte)~CmdByteKeyboardDisabled);
                break;
            case ReadOutputPort:
                Output((byte)(outputPort & ~(OutputPortKeyboardFull | OutputPortAuxFull)
                    | (outputFull && !outputFromAux ? OutputPortKeyboardFull : 0)
                    | (outputFull && outputFromAux ? OutputPortAuxFull : 0)), aux: false);
                break;
            case DisableA20:
                outputPort &= unchecked((byte)~OutputPortA20);
                break;
            case EnableA20:
                outputPort |= OutputPortA20;
                break;
            case >= PulseOutputPortBase:
                // Pulse the output port bits selected by zeros in the low nibble; bit 0 is the reset line.
                if ((command & OutputPortReset) == 0)
                {
                    ResetRequested?.Invoke();
                }

                break;
            default:
                Unexpected.Record(Name, $"controller command 0x{command:X2}");
                break;
        }
    }

    private void WriteData(byte value)
    {
        lastWriteWasCommand = false;
        byte command = pendingCommand;
        pendingCommand = 0;
        switch (command)
        {
            case WriteCommandByte:
                commandByte = value;
                systemFlag = (value & CmdByteSystemFlag) != 0;
                UpdateIrqs();
                break;
            case WriteOutputPort:
                outputPort = value;
                if ((value & OutputPortReset) == 0)
                {
                    ResetRequested?.Invoke();
                }

                break;
            case WriteKeyboardOutput:
                Output(value, aux: false);
                break;
            case WriteAuxOutput:
                Output(value, aux: true);
                break;
            default:
                // A byte for the keyboard (or, after 0xD4, the mouse): none is attached, so it is
                // dropped and nothing answers, as with an unplugged device.
                break;
        }
    }

    private void Output(byte value, bool aux)
    {
        outputBuffer = value;
        outputFull = true;
        outputFromAux = aux;
        UpdateIrqs();
    }

    private void UpdateIrqs()
    {
        // The command byte's interrupt enables gate IRQ 1 and IRQ 12 on a full output buffer.
        bool kbd = outputFull && !outputFromAux && (commandByte & CmdByteKeyboardInterrupt) != 0;
        bool aux = outputFull && outputFromAux && (commandByte & CmdByteAuxInterrupt) != 0;
        if (kbd != keyboardIrqLevel)
        {
            keyboardIrqLevel = kbd;
            keyboardIrq.Set(kbd);
        }

        if (aux != auxIrqLevel)
        {
            auxIrqLevel = aux;
            auxIrq.Set(aux);
        }
    }

    private sealed class PortView(I8042 controller, int offset, string name) : IIoDevice
    {
        public string Name => name;

        public ulong Read(ulong at, int size)
        {
            if (at == 0)
            {
                return controller.Read((ulong)offset, size);
            }

            controller.Unexpected.Record(name, $"read of {size} bytes at +{at}");
            return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }

        public void Write(ulong at, int size, ulong value)
        {
            if (at == 0)
            {
                controller.Write((ulong)offset, size, value);
                return;
            }

            controller.Unexpected.Record(name, $"write of {size} bytes at +{at}");
        }
    }
}

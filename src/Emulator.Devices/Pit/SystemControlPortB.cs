using Emulator.Devices.Bus;
using static Emulator.Devices.Pit.Pit8254Registers;

namespace Emulator.Devices.Pit;

/// <summary>
/// Port 0x61, the PC/AT system control port B: bit 0 gates PIT counter 2, bit 1 enables the
/// speaker data, bit 4 is the refresh-request toggle and bit 5 reads counter 2's OUT (which
/// Linux's pit_calibrate_tsc polls). The refresh bit flips on every read, so a loop waiting
/// for it to change always ends.
/// </summary>
public sealed class SystemControlPortB : IIoDevice
{
    private readonly Pit8254 pit;

    internal SystemControlPortB(Pit8254 pit) => this.pit = pit;

    public string Name => pit.Name + "-portb";

    internal byte Latched { get; set; }

    internal bool Refresh { get; set; }

    /// <summary>Bit 1: the speaker is driven from counter 2 (no sound is produced).</summary>
    public bool SpeakerEnabled => (Latched & PortBSpeakerData) != 0;

    public ulong Read(ulong offset, int size)
    {
        if (size != 1 || offset != 0)
        {
            pit.Unexpected.Record(Name, $"read of {size} bytes at +{offset}");
            return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }

        Refresh = !Refresh;
        return (ulong)(Latched | (Refresh ? PortBRefreshToggle : 0) | (pit.Out2() ? PortBOut2 : 0));
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 1 || offset != 0)
        {
            pit.Unexpected.Record(Name, $"write of {size} bytes at +{offset}");
            return;
        }

        Latched = (byte)(value & PortBWritable);
        pit.SetGate2((Latched & PortBGate2) != 0);
    }
}

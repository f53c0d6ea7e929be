using Emulator.Devices.Bus;

namespace Emulator.Devices.DebugPort;

/// <summary>
/// Port 0x80: writes are accepted and remembered as the last POST code (and counted: Linux's
/// outb_p delays land here), reads give 0xFF as on a PC with no POST card. Not thread-safe.
/// </summary>
public sealed partial class DebugPort0x80(string name = "port80") : IIoDevice
{
    public string Name => name;

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>The last byte written (the last POST code).</summary>
    public byte LastPostCode { get; private set; }

    /// <summary>How many writes the port has seen.</summary>
    public long Writes { get; private set; }

    public ulong Read(ulong offset, int size)
    {
        if (offset != 0)
        {
            Unexpected.Record(Name, $"read of {size} bytes at +{offset}");
        }

        return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (offset != 0)
        {
            Unexpected.Record(Name, $"write of {size} bytes at +{offset}");
            return;
        }

        // A wider write puts its low byte on port 0x80.
        LastPostCode = (byte)value;
        Writes++;
    }
}

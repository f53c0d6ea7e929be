using Emulator.Devices.Bus;

namespace Emulator.Devices.DebugExit;

/// <summary>
/// QEMU's isa-debug-exit: a write of value V to its port ends the emulator with exit status
/// (V &lt;&lt; 1) | 1, so a test kernel can report pass or fail (and never 0, a clean power-off).
/// Reads give 0. The device has no state: its port and size are configuration.
/// </summary>
public sealed class IsaDebugExit : IIoDevice
{
    /// <summary>QEMU's defaults: iobase=0x501, iosize=0x02.</summary>
    public const ushort DefaultIoBase = 0x501, DefaultIoSize = 0x02;

    public string Name => "isa-debug-exit";

    /// <summary>The guest wrote a value; the argument is the exit status it asks for, (V &lt;&lt; 1) | 1.</summary>
    public event Action<int>? ExitRequested;

    /// <summary>The exit status a write of <paramref name="value"/> gives, as QEMU computes it.</summary>
    public static int Status(ulong value) => unchecked((int)((value << 1) | 1));

    public ulong Read(ulong offset, int size) => 0;

    /// <summary>A write anywhere in the window exits with the value written (QEMU ignores the offset too).</summary>
    public void Write(ulong offset, int size, ulong value) => ExitRequested?.Invoke(Status(value));
}

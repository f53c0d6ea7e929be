namespace Emulator.Devices.Bus;

/// <summary>
/// A device's register interface: reads and writes at an offset within its port or MMIO range,
/// of 1, 2, 4 or 8 bytes (Firecracker's BusDevice, QEMU's MemoryRegionOps). A device is not
/// thread-safe: its actor (or, in tests, the caller) sends it one access at a time. An access
/// the device does not expect is counted and logged once; it never throws into the vCPU.
/// </summary>
public interface IIoDevice
{
    /// <summary>Short name for traces and logs ("uart0", "pit").</summary>
    string Name { get; }

    /// <summary>Reads <paramref name="size"/> bytes at <paramref name="offset"/>; unknown registers read as all ones or zero, as the hardware does.</summary>
    ulong Read(ulong offset, int size);

    void Write(ulong offset, int size, ulong value);
}

/// <summary>An interrupt request line from a device to an interrupt controller input.</summary>
public interface IInterruptLine
{
    /// <summary>Drives the line: true = asserted (level-triggered devices hold it; edge-triggered ones raise then lower).</summary>
    void Set(bool level);
}

/// <summary>Counts accesses a device did not expect and logs the first one of each kind.</summary>
public sealed class UnexpectedAccesses
{
    private readonly HashSet<string> seen = [];

    public long Count { get; private set; }

    /// <summary>Where the first occurrence of each kind is reported (defaults to standard error).</summary>
    public static Action<string> Log { get; set; } = message => Console.Error.WriteLine(message);

    public void Record(string device, string what)
    {
        Count++;
        if (seen.Add(what))
        {
            Log($"{device}: unexpected {what} (logged once)");
        }
    }
}

/// <summary>An interrupt line that goes nowhere; for devices tested alone.</summary>
public sealed class NullInterruptLine : IInterruptLine
{
    public static readonly NullInterruptLine Instance = new();

    public void Set(bool level)
    {
    }
}

/// <summary>An interrupt line that remembers its level and counts rising edges; for tests.</summary>
public sealed class RecordingInterruptLine : IInterruptLine
{
    public bool Level { get; private set; }

    public int RisingEdges { get; private set; }

    public void Set(bool level)
    {
        if (level && !Level)
        {
            RisingEdges++;
        }

        Level = level;
    }
}

using System.Diagnostics;

namespace Emulator.Devices.Bus;

/// <summary>
/// Names a device's spans: the device and the machine it belongs to. The spans go to the BCL's
/// <see cref="ActivitySource"/> <see cref="SourceName"/> (the one the machine's register accesses
/// use too), so this project needs no OpenTelemetry package: whoever listens (the SDK in `emu`,
/// an ActivityListener in a test) receives them.
///
/// A device records a span after the fact, when it knows how the request ended: <see cref="Open"/>
/// with the start time, tags, then <see cref="Close"/> with the end time. Both leave
/// <see cref="Activity.Current"/> as they found it, because a device runs inside whatever thread
/// its actor borrows (often a vCPU's, in the middle of that vCPU's own span), and its spans are
/// roots of their own rather than children of the access that happened to run them.
/// </summary>
public sealed class DeviceTrace(string device, Func<string>? machineId = null)
{
    public const string SourceName = "Emulator.Devices";

    // Attribute names shared by every device span (the bus's per-access spans use the same).
    public const string MachineIdTag = "machine.id";
    public const string DeviceTag = "device";
    public const string BytesTag = "device.bytes";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>True when someone listens; checking it is the whole cost of tracing when nobody does.</summary>
    public static bool Enabled => Source.HasListeners();

    public string Device => device;

    /// <summary>Read when a span is recorded: a service names its machine after building it.</summary>
    public string MachineId => machineId?.Invoke() ?? "";

    /// <summary>Starts a root span at <paramref name="startUtc"/> tagged with machine and device; null when nobody samples it.</summary>
    public Activity? Open(string name, DateTime startUtc)
    {
        var outer = Activity.Current;
        Activity.Current = null;
        var span = Source.StartActivity(name, ActivityKind.Internal, default(ActivityContext), startTime: startUtc);
        Activity.Current = outer;
        span?.SetTag(MachineIdTag, MachineId);
        span?.SetTag(DeviceTag, device);
        return span;
    }

    /// <summary>Ends a span from <see cref="Open"/> at <paramref name="endUtc"/>.</summary>
    public static void Close(Activity? span, DateTime endUtc)
    {
        if (span is null)
        {
            return;
        }

        var outer = Activity.Current;
        span.SetEndTime(endUtc);
        span.Stop();
        Activity.Current = outer;
    }
}

/// <summary>
/// A device that traces some of its registers itself, in batches (the UART's data register, one
/// span per burst), so the bus does not also make a span for each access to them.
/// </summary>
public interface ITracesOwnAccesses
{
    /// <summary>True when accesses at <paramref name="offset"/> are covered by the device's own spans.</summary>
    bool TracesAccess(ulong offset);
}

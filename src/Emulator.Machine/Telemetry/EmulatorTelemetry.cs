using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Telemetry;

/// <summary>
/// The emulator's traces and metrics, on the BCL's ActivitySource and Meter so the machine has no
/// dependency on an SDK: `emu` wires them to OpenTelemetry (and OTLP when the standard
/// OTEL_EXPORTER_OTLP_* variables are set). Spans cost nothing when nobody listens.
/// </summary>
public static class EmulatorTelemetry
{
    public const string DeviceSourceName = Emulator.Devices.Bus.DeviceTrace.SourceName;
    public const string ControlSourceName = "Emulator.ControlPlane";
    public const string MeterName = "Emulator";

    /// <summary>
    /// One span per device I/O request handled by a device actor: a port or MMIO access (the bus),
    /// a burst of UART bytes, a virtio-blk request (the devices). One source, defined beside the
    /// devices so they need no reference to this project.
    /// </summary>
    public static ActivitySource Devices => Emulator.Devices.Bus.DeviceTrace.Source;

    /// <summary>One span per control-plane call.</summary>
    public static readonly ActivitySource ControlPlane = new(ControlSourceName);

    public static readonly Meter Meter = new(MeterName);

    /// <summary>Device requests, by device.</summary>
    public static readonly Counter<long> DeviceRequests = Meter.CreateCounter<long>("emu.device.requests", description: "port and MMIO accesses handled by device actors");

    private static readonly ConcurrentDictionary<VirtualMachine, byte> Live = new();

    static EmulatorTelemetry()
    {
        Meter.CreateObservableCounter("emu.guest.instructions", () => Each(vm => (long)vm.Cpus.Aggregate(0UL, (sum, c) => sum + c.S.InstructionCount)), description: "guest instructions retired");
        Meter.CreateObservableCounter("emu.tb.translations", () => Each(vm => vm.Cache.Translations), description: "translation blocks translated");
        Meter.CreateObservableGauge("emu.actor.mailbox.depth", MailboxDepths, description: "messages waiting in each actor's mailbox");
    }

    /// <summary>Makes a machine's counters visible to the meter until it is disposed.</summary>
    public static void Track(VirtualMachine vm) => Live[vm] = 0;

    public static void Untrack(VirtualMachine vm) => Live.TryRemove(vm, out _);

    private static IEnumerable<Measurement<long>> Each(Func<VirtualMachine, long> value) =>
        Live.Keys.Select(vm => new Measurement<long>(value(vm), new KeyValuePair<string, object?>("machine.id", vm.Bus.MachineId)));

    private static IEnumerable<Measurement<long>> MailboxDepths() =>
        Live.Keys.SelectMany(vm => vm.ActorMetrics().Select(a => new Measurement<long>(
            a.MailboxDepth,
            new KeyValuePair<string, object?>("machine.id", vm.Bus.MachineId),
            new KeyValuePair<string, object?>("actor", a.Path))));
}

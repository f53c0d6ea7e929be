using System.Diagnostics;
using Emulator.Actors;
using Emulator.Devices.Bus;
using Emulator.Machine.Telemetry;
using Emulator.X86;

namespace Emulator.Machine.Runtime;

/// <summary>A register window of a device actor, mapped at a base port or physical address, with the length of its range.</summary>
public sealed record IoMapping(string Name, ulong Base, ulong Length, ActorRef<DeviceMessage> Device, Emulator.Devices.Bus.IIoDevice Target);

/// <summary>
/// Routes a vCPU's port and MMIO accesses to device actors as request/response messages. The
/// actor runtime runs the handler on the vCPU's thread when the device is idle (one message at
/// a time still holds), so the common uncontended access costs a lock and a call.
/// </summary>
public sealed class IoBus : IPortBus, IMmioBus
{
    private static readonly TimeSpan AccessTimeout = TimeSpan.FromSeconds(5);
    private readonly IoMapping?[] ports = new IoMapping?[0x10000];
    private IoMapping[] mmio = [];

    /// <summary>Accesses nothing claimed (counted, never an error for the guest).</summary>
    public long Unclaimed;

    /// <summary>Accesses to a device that did not answer in time (a stuck or stopped device).</summary>
    public long TimedOut;

    public void MapPorts(IoMapping m)
    {
        for (ulong p = m.Base; p < m.Base + m.Length; p++)
        {
            if (ports[p] is { } other)
            {
                throw new InvalidOperationException($"port 0x{p:x} of {m.Name} is already mapped to {other.Name}");
            }

            ports[p] = m;
        }
    }

    public void MapMmio(IoMapping m)
    {
        foreach (var other in mmio)
        {
            if (m.Base < other.Base + other.Length && other.Base < m.Base + m.Length)
            {
                throw new InvalidOperationException($"MMIO range of {m.Name} overlaps {other.Name}");
            }
        }

        mmio = [.. mmio, m];
    }

    public uint In(ushort port, int size)
    {
        var m = ports[port];
        if (m is null)
        {
            Interlocked.Increment(ref Unclaimed);
            return size == 4 ? uint.MaxValue : (1u << (8 * size)) - 1;
        }

        return (uint)Access(m, false, port - m.Base, size, 0);
    }

    public void Out(ushort port, int size, uint value)
    {
        var m = ports[port];
        if (m is null)
        {
            Interlocked.Increment(ref Unclaimed);
            return;
        }

        Access(m, true, port - m.Base, size, value);
    }

    public bool TryRead(ulong physical, int size, out ulong value)
    {
        var m = FindMmio(physical);
        if (m is null)
        {
            value = 0;
            return false;
        }

        value = Access(m, false, physical - m.Base, size, 0);
        return true;
    }

    public bool TryWrite(ulong physical, int size, ulong value)
    {
        var m = FindMmio(physical);
        if (m is null)
        {
            return false;
        }

        Access(m, true, physical - m.Base, size, value);
        return true;
    }

    private IoMapping? FindMmio(ulong physical)
    {
        foreach (var m in mmio)
        {
            if (physical - m.Base < m.Length)
            {
                return m;
            }
        }

        return null;
    }

    /// <summary>The machine these accesses belong to, for trace attributes.</summary>
    public string MachineId { get; set; } = "";

    private ulong Access(IoMapping m, bool write, ulong offset, int size, ulong value)
    {
        EmulatorTelemetry.DeviceRequests.Add(1, new KeyValuePair<string, object?>("device", m.Name));
        // A device that traces a register in batches (the UART's data register, per burst) gets no span per access there.
        if (!EmulatorTelemetry.Devices.HasListeners() || (m.Target is ITracesOwnAccesses own && own.TracesAccess(offset)))
        {
            return Call(m, write, offset, size, value);
        }

        using var span = EmulatorTelemetry.Devices.StartActivity(write ? "device write" : "device read", ActivityKind.Internal);
        ulong result = Call(m, write, offset, size, value);
        if (span is not null)
        {
            span.SetTag(DeviceTrace.MachineIdTag, MachineId);
            span.SetTag(DeviceTrace.DeviceTag, m.Name);
            span.SetTag("device.register", $"0x{m.Base + offset:x}");
            span.SetTag("device.offset", (long)offset);
            span.SetTag("device.size", size);
            span.SetTag("device.value", $"0x{(write ? value : result):x}");
        }

        return result;
    }

    private ulong Call(IoMapping m, bool write, ulong offset, int size, ulong value)
    {
        try
        {
            return m.Device.Call<(IoMapping, bool, ulong, int, ulong), ulong>(
                (m, write, offset, size, value),
                static (s, reply) => new DeviceMessage.Access(s.Item1.Target, s.Item2, s.Item3, s.Item4, s.Item5, reply),
                AccessTimeout);
        }
        catch (Exception e) when (e is TimeoutException or ActorStoppedException or ActorFailedException)
        {
            // A device that failed or stopped reads as all ones, like an empty bus; the vCPU goes on.
            Interlocked.Increment(ref TimedOut);
            return size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }
    }
}

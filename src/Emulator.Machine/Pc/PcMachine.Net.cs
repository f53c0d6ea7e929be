using Emulator.Devices.Bus;
using Emulator.Devices.Virtio;
using Emulator.Devices.VirtioNet;
using Emulator.Machine.Net;
using Emulator.Machine.Runtime;

namespace Emulator.Machine.Pc;

public static partial class PcMachine
{
    /// <summary>
    /// Opens the TAP of every network interface (a TAP that cannot be opened is a clear
    /// <see cref="NetworkBackendException"/> now, at machine creation) and adds a virtio-net device
    /// for each through <paramref name="addVirtioMmio"/>, after the disks and shared folders. On
    /// failure the TAPs opened so far, and <paramref name="opened"/> (what the machine opened
    /// before), are closed. Returns the TAPs, for the machine to own.
    /// </summary>
    private static List<TapDevice> AddNetworkInterfaces(
        PcConfig config,
        Action<string, Func<MachineServices, IInterruptLine, VirtioMmioTransport>, Func<VirtioMmioTransport, bool>?> addVirtioMmio,
        IReadOnlyList<IDisposable> opened)
    {
        var taps = new List<TapDevice>();
        try
        {
            foreach (var nic in config.NetworkInterfaces)
            {
                if (taps.Any(t => t.Name == nic.Tap))
                {
                    throw new DeviceOptionException($"TAP {nic.Tap} is given to two network interfaces");
                }

                taps.Add(TapDevice.Open(nic.Tap));
            }

            for (int i = 0; i < taps.Count; i++)
            {
                int n = i; // captured by the device factory, which runs later
                var tap = taps[n];
                var mac = config.NetworkInterfaces[n].MacFor(n);
                string name = $"virtio-net{n}";
                VirtioNet? net = null;
                addVirtioMmio(name, (s, line) =>
                {
                    var client = new NetBackendClient(() => s.Self, s.Post);
                    net = new VirtioNet(client, new VirtioNetOptions { Mac = mac });
                    client.Receiver = net.Receive;
                    client.Backend = s.Spawn(TapBackendActor.Props(tap, client.Deliver, e => s.Fail($"network backend of TAP {tap.Name} failed", e)), $"net{n}");

                    // The TAP is released when the machine stops, so another machine can have it.
                    s.OnStop(tap.Dispose);
                    return new VirtioMmioTransport(net, new GuestRamAccess(s.Memory, s.DeviceWroteRam), line, name);
                },
                // Frames at the backend must be written before the queue state is saved.
                _ => net!.TransmitBytesInFlight > 0);
            }

            return taps;
        }
        catch
        {
            taps.ForEach(t => t.Dispose());
            foreach (var d in opened)
            {
                d.Dispose();
            }

            throw;
        }
    }
}

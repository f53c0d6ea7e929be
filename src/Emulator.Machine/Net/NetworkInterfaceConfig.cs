using Emulator.Devices.VirtioNet;

namespace Emulator.Machine.Net;

/// <summary>
/// A network interface: a virtio-net device on the host TAP interface <paramref name="Tap"/>, with
/// the MAC address <paramref name="Mac"/> (when null, <see cref="MacAddress.Derive"/> of the TAP's
/// name and the interface's index, so the same command line gives the same address).
/// </summary>
public sealed record NetworkInterfaceConfig(string Tap, MacAddress? Mac = null)
{
    /// <summary>The address the interface has as the <paramref name="index"/>th of its machine.</summary>
    public MacAddress MacFor(int index) => Mac ?? MacAddress.Derive($"{Tap}/{index}");
}

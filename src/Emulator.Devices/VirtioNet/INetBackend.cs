namespace Emulator.Devices.VirtioNet;

/// <summary>
/// Where a network device's frames go and come from (a TAP device's actor). Every frame, both
/// ways, starts with the 12-byte virtio_net_hdr (virtio 1.1 section 5.1.6), as a TAP opened with
/// IFF_VNET_HDR and a header size of 12 reads and writes them.
/// </summary>
public interface INetBackend
{
    /// <summary>
    /// Whether the backend honours the header's checksum and segmentation requests (NEEDS_CSUM,
    /// GSO); the device offers VIRTIO_NET_F_CSUM and HOST_TSO4/6 only then.
    /// </summary>
    bool Offloads { get; }

    /// <summary>
    /// Sends one frame (header first). <paramref name="sent"/> runs inside the device's actor once
    /// the backend is done with it (written, or dropped with an error), so the device can bound
    /// the bytes it has handed over.
    /// </summary>
    void Transmit(byte[] frame, Action sent);
}

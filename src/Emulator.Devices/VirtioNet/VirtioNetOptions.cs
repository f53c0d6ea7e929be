namespace Emulator.Devices.VirtioNet;

/// <summary>Limits and identity of a virtio-net device.</summary>
public sealed record VirtioNetOptions
{
    public required MacAddress Mac { get; init; }

    /// <summary>QueueNumMax of the receive and transmit queues.</summary>
    public ushort QueueSize { get; init; } = 256;

    /// <summary>Frames held while the guest has posted no receive buffers; later ones are dropped (counted), as a NIC's FIFO overflows.</summary>
    public int MaxHeldFrames { get; init; } = 256;

    /// <summary>Bytes of transmitted frames at the backend at once; beyond it the device stops taking chains until some are sent.</summary>
    public int MaxTransmitBytesInFlight { get; init; } = 1 << 20;

    /// <summary>
    /// The largest frame either way, header included: a 64 KiB TCP segment (TSO) with its
    /// Ethernet, VLAN, IP and TCP headers. Longer transmit chains are dropped.
    /// </summary>
    public int MaxFrameBytes { get; init; } = VirtioNetRegisters.HeaderSize + 65536 + 14 + 4;
}

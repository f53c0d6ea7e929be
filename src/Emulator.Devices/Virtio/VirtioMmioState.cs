namespace Emulator.Devices.Virtio;

/// <summary>
/// Saved state of a <see cref="VirtioMmioTransport"/> (snapshot section "virtio-mmio"). Requests
/// in flight at the backend are not part of it: the machine saves a virtio device only once its
/// backend is idle.
/// </summary>
public sealed record VirtioMmioState
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public uint Status { get; init; }
    public uint DeviceFeaturesSel { get; init; }
    public ulong DriverFeatures { get; init; }
    public uint DriverFeaturesSel { get; init; }
    public uint QueueSel { get; init; }
    public uint InterruptStatus { get; init; }
    public uint ConfigGeneration { get; init; }
    public IReadOnlyList<VirtQueueState> Queues { get; init; } = [];
}

/// <summary>Saved state of one <see cref="VirtQueue"/>, identified by its index.</summary>
public sealed record VirtQueueState
{
    public int Index { get; init; }
    public ushort Size { get; init; }
    public bool Ready { get; init; }
    public ulong DescTable { get; init; }
    public ulong AvailRing { get; init; }
    public ulong UsedRing { get; init; }
    public ushort LastAvailIdx { get; init; }
    public ushort UsedIdx { get; init; }
    public ushort SignalledUsed { get; init; }
    public bool SignalledUsedValid { get; init; }
    public bool Broken { get; init; }
}

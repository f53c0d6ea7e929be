namespace Emulator.Devices.Virtio;

/// <summary>
/// A virtio device type (virtio 1.1 section 5) behind a transport: its ID, features, queues and
/// configuration space. The transport owns the common state (status, negotiation, queues,
/// interrupts) and calls the device, one call at a time, from the device's actor.
/// </summary>
public interface IVirtioDevice
{
    /// <summary>Device ID (section 5: 2 = block).</summary>
    uint DeviceType { get; }

    /// <summary>The device-specific feature bits offered; the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX.</summary>
    ulong DeviceFeatures { get; }

    /// <summary>QueueNumMax of each queue; the count is the number of queues.</summary>
    IReadOnlyList<ushort> QueueMaxSizes { get; }

    /// <summary>Called once, before any other call, with the transport the device completes its requests through.</summary>
    void Attach(IVirtioTransport transport);

    /// <summary>Reads the device-specific configuration (little-endian), <paramref name="offset"/> from its start; false if outside it.</summary>
    bool ReadConfig(int offset, int size, out ulong value);

    /// <summary>Writes the device-specific configuration; false if the field is not writable.</summary>
    bool WriteConfig(int offset, int size, ulong value);

    /// <summary>The driver notified <paramref name="queue"/> (QueueNotify) while DRIVER_OK.</summary>
    void QueueNotify(VirtQueue queue);

    /// <summary>The driver reset the device (Status written 0): drop requests in flight, forget negotiated state.</summary>
    void Reset();

    /// <summary>The description of the device's own saved state, saved inside its transport's; null: it has none.</summary>
    State.IStateShape? SavedState => null;
}

/// <summary>What a device may ask of its transport.</summary>
public interface IVirtioTransport
{
    IGuestMemoryAccess Memory { get; }

    /// <summary>The device's queues, by index (a device that receives needs its receive queue outside a notification).</summary>
    IReadOnlyList<VirtQueue> Queues { get; }

    /// <summary>The features the driver accepted (valid once FEATURES_OK).</summary>
    ulong DriverFeatures { get; }

    bool HasFeature(int bit);

    /// <summary>True while the driver has set DRIVER_OK and not reset the device.</summary>
    bool DriverOk { get; }

    /// <summary>Publishes used elements of <paramref name="queue"/>: raises the used-buffer interrupt unless the driver suppressed it (2.6.7, 2.6.10).</summary>
    void SignalUsed(VirtQueue queue);

    /// <summary>The configuration space changed: bumps ConfigGeneration and raises the configuration-change interrupt (4.2.2).</summary>
    void ConfigChanged();

    /// <summary>Sets DEVICE_NEEDS_RESET (2.1.2) after an error the device cannot recover from, and tells the driver.</summary>
    void NeedsReset();
}

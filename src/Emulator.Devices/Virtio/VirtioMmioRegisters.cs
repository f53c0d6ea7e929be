namespace Emulator.Devices.Virtio;

/// <summary>
/// The virtio-mmio register layout (virtio 1.1 section 4.2.2, version 2 "modern" only), the
/// device status bits (section 2.1), the reserved feature bits (section 6) and the split
/// virtqueue flags (section 2.6).
/// </summary>
public static class VirtioMmioRegisters
{
    /// <summary>Size of one virtio-mmio window (QEMU's microvm spaces them 0x200 apart).</summary>
    public const uint WindowSize = 0x200;

    public const uint Magic = 0x74726976; // "virt", little-endian
    public const uint TransportVersion = 2;

    /// <summary>Vendor ID: "QEMU" as QEMU's virtio-mmio reports it, so guest quirk tables treat us alike.</summary>
    public const uint Vendor = 0x554d4551;

    public const ulong MagicValue = 0x000;
    public const ulong Version = 0x004;
    public const ulong DeviceId = 0x008;
    public const ulong VendorId = 0x00c;
    public const ulong DeviceFeatures = 0x010;
    public const ulong DeviceFeaturesSel = 0x014;
    public const ulong DriverFeatures = 0x020;
    public const ulong DriverFeaturesSel = 0x024;
    public const ulong QueueSel = 0x030;
    public const ulong QueueNumMax = 0x034;
    public const ulong QueueNum = 0x038;
    public const ulong QueueReady = 0x044;
    public const ulong QueueNotify = 0x050;
    public const ulong InterruptStatus = 0x060;
    public const ulong InterruptAck = 0x064;
    public const ulong Status = 0x070;
    public const ulong QueueDescLow = 0x080;
    public const ulong QueueDescHigh = 0x084;
    public const ulong QueueDriverLow = 0x090;
    public const ulong QueueDriverHigh = 0x094;
    public const ulong QueueDeviceLow = 0x0a0;
    public const ulong QueueDeviceHigh = 0x0a4;
    public const ulong ConfigGeneration = 0x0fc;
    public const ulong Config = 0x100;

    // InterruptStatus bits (4.2.2).
    public const uint InterruptUsedBuffer = 1 << 0;
    public const uint InterruptConfigChange = 1 << 1;

    // Device status field (2.1).
    public const uint StatusAcknowledge = 1;
    public const uint StatusDriver = 2;
    public const uint StatusDriverOk = 4;
    public const uint StatusFeaturesOk = 8;
    public const uint StatusDeviceNeedsReset = 64;
    public const uint StatusFailed = 128;

    // Reserved feature bits (6).
    public const int FeatureRingIndirectDesc = 28;
    public const int FeatureRingEventIdx = 29;
    public const int FeatureVersion1 = 32;

    // Split virtqueue descriptor flags (2.6.5) and ring flags (2.6.6, 2.6.8).
    public const ushort DescFlagNext = 1;
    public const ushort DescFlagWrite = 2;
    public const ushort DescFlagIndirect = 4;
    public const ushort AvailFlagNoInterrupt = 1;
    public const ushort UsedFlagNoNotify = 1;

    public const int DescriptorSize = 16;
    public const int UsedElementSize = 8;
}

namespace Emulator.Devices.Virtio9p;

/// <summary>virtio-9p constants (virtio 1.1 section 5.11 lists the device ID; the layout is QEMU's and Linux's include/uapi/linux/virtio_9p.h).</summary>
public static class Virtio9pRegisters
{
    public const uint DeviceType = 9;

    /// <summary>VIRTIO_9P_MOUNT_TAG: the configuration space holds the mount tag.</summary>
    public const int FeatureMountTag = 0;

    /// <summary>struct virtio_9p_config: tag_len (le16), then tag_len bytes of tag (not NUL-terminated).</summary>
    public const int ConfigTagLength = 0;
    public const int ConfigTag = 2;

    /// <summary>The longest tag the Linux driver accepts (it refuses tag_len beyond PAGE_SIZE; QEMU caps it at 0xffff); ours stays short.</summary>
    public const int MaxTagBytes = 255;
}

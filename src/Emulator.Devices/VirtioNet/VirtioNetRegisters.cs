namespace Emulator.Devices.VirtioNet;

/// <summary>virtio-net constants (virtio 1.1 section 5.1).</summary>
public static class VirtioNetRegisters
{
    public const uint DeviceType = 1;

    // Queues (5.1.2): without VIRTIO_NET_F_MQ and CTRL_VQ, receiveq1 and transmitq1 only.
    public const int ReceiveQueue = 0;
    public const int TransmitQueue = 1;

    // Feature bits (5.1.3).
    public const int FeatureCsum = 0;
    public const int FeatureGuestCsum = 1;
    public const int FeatureMac = 5;
    public const int FeatureGuestTso4 = 7;
    public const int FeatureHostTso4 = 11;
    public const int FeatureHostTso6 = 12;
    public const int FeatureMrgRxbuf = 15;
    public const int FeatureStatus = 16;

    // Configuration layout (5.1.4, struct virtio_net_config): mac[6], le16 status, le16 max_virtqueue_pairs.
    public const int ConfigMac = 0;
    public const int ConfigStatus = 6;
    public const int ConfigMaxVirtqueuePairs = 8;
    public const int ConfigSize = 10;

    public const ushort StatusLinkUp = 1;

    /// <summary>struct virtio_net_hdr with num_buffers: 12 bytes once VIRTIO_F_VERSION_1 is negotiated (5.1.6).</summary>
    public const int HeaderSize = 12;

    // virtio_net_hdr fields (5.1.6).
    public const int HeaderFlags = 0;
    public const int HeaderGsoType = 1;
    public const int HeaderNumBuffers = 10;

    public const byte HeaderFlagNeedsCsum = 1;
    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoTcpV6 = 4;
    public const byte GsoEcn = 0x80;

    /// <summary>The shortest frame handed on: an Ethernet header (destination, source, type).</summary>
    public const int MinFrame = 14;
}

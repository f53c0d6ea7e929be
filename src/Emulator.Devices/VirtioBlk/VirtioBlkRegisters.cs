namespace Emulator.Devices.VirtioBlk;

/// <summary>virtio-blk constants (virtio 1.1 section 5.2).</summary>
public static class VirtioBlkRegisters
{
    public const uint DeviceType = 2;

    public const int SectorSize = 512;

    // Feature bits (5.2.3).
    public const int FeatureSizeMax = 1;
    public const int FeatureSegMax = 2;
    public const int FeatureRo = 5;
    public const int FeatureBlkSize = 6;
    public const int FeatureFlush = 9;
    public const int FeatureDiscard = 13;
    public const int FeatureWriteZeroes = 14;

    // Configuration layout (5.2.4, struct virtio_blk_config).
    public const int ConfigCapacity = 0;
    public const int ConfigSizeMax = 8;
    public const int ConfigSegMax = 12;
    public const int ConfigBlkSize = 20;
    public const int ConfigWriteback = 32;
    public const int ConfigMaxDiscardSectors = 36;
    public const int ConfigMaxDiscardSeg = 40;
    public const int ConfigDiscardSectorAlignment = 44;
    public const int ConfigMaxWriteZeroesSectors = 48;
    public const int ConfigMaxWriteZeroesSeg = 52;
    public const int ConfigWriteZeroesMayUnmap = 56;
    public const int ConfigSize = 60;

    // Request types (5.2.6).
    public const uint TypeIn = 0;
    public const uint TypeOut = 1;
    public const uint TypeFlush = 4;
    public const uint TypeGetId = 8;
    public const uint TypeDiscard = 11;
    public const uint TypeWriteZeroes = 13;

    // Status byte (5.2.6).
    public const byte StatusOk = 0;
    public const byte StatusIoErr = 1;
    public const byte StatusUnsupp = 2;

    /// <summary>struct virtio_blk_outhdr: le32 type, le32 reserved, le64 sector.</summary>
    public const int RequestHeaderSize = 16;

    /// <summary>struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags.</summary>
    public const int DiscardSegmentSize = 16;

    public const uint DiscardFlagUnmap = 1;

    /// <summary>GET_ID answers with a device ID string of up to 20 bytes, zero-padded (5.2.6).</summary>
    public const int IdBytes = 20;
}

namespace Emulator.Devices.FwCfg;

/// <summary>
/// QEMU's firmware configuration interface (docs/specs/fw_cfg.rst; the keys as in Linux's
/// include/uapi/linux/qemu_fw_cfg.h): on x86 a 16-bit selector at I/O port 0x510 and an 8-bit
/// data port at 0x511. The DMA interface (0x514) is not provided, so FW_CFG_ID says so.
/// </summary>
public static class FwCfgRegisters
{
    public const ushort SelectorPort = 0x510;

    /// <summary>The window the device serves: the selector (offset 0, 16 bits) and the data port (offset 1, 8 bits).</summary>
    public const ushort PortCount = 2;

    public const ulong SelectorOffset = 0, DataOffset = 1;

    public const ushort Signature = 0x0000, Id = 0x0001, RamSize = 0x0003, NoGraphic = 0x0004, NbCpus = 0x0005,
        MaxCpus = 0x000f, CmdlineSize = 0x0014, CmdlineData = 0x0015, FileDir = 0x0019;

    /// <summary>The first key given to a named file in the directory.</summary>
    public const ushort FileFirst = 0x0020;

    /// <summary>Selector bit 14: the item is being written (writes are ignored here, as QEMU 2.4-2.8 did).</summary>
    public const ushort WriteChannel = 0x4000;

    /// <summary>Selector bit 15: an architecture-specific item.</summary>
    public const ushort ArchLocal = 0x8000;

    /// <summary>FW_CFG_ID bit 0: the traditional (selector/data) interface; bit 1 (DMA) is clear.</summary>
    public const uint VersionTraditional = 0x01;

    /// <summary>A file name in a directory entry is at most 56 bytes including its NUL.</summary>
    public const int MaxFilePath = 56;

    /// <summary>A directory entry: u32 size, u16 select, u16 reserved (big-endian), then the name.</summary>
    public const int FileEntrySize = 8 + MaxFilePath;
}

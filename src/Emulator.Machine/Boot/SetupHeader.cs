namespace Emulator.Machine.Boot;

/// <summary>
/// Offsets of the real-mode kernel header ("setup header") fields, counted from the start of
/// the bzImage file, which are also their offsets in boot_params (Linux
/// Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header").
/// </summary>
public static class SetupHeader
{
    public const int Start = 0x1f1;
    public const int SetupSects = 0x1f1;
    public const int RootFlags = 0x1f2;
    public const int SysSize = 0x1f4;
    public const int VidMode = 0x1fa;
    public const int BootFlag = 0x1fe;
    public const int Jump = 0x200;
    public const int Header = 0x202;
    public const int Version = 0x206;
    public const int TypeOfLoader = 0x210;
    public const int LoadFlags = 0x211;
    public const int Code32Start = 0x214;
    public const int RamdiskImage = 0x218;
    public const int RamdiskSize = 0x21c;
    public const int HeapEndPtr = 0x224;
    public const int CmdLinePtr = 0x228;
    public const int InitrdAddrMax = 0x22c;
    public const int KernelAlignment = 0x230;
    public const int RelocatableKernel = 0x234;
    public const int XLoadFlags = 0x236;
    public const int CmdlineSize = 0x238;
    public const int HardwareSubarch = 0x23c;
    public const int SetupData = 0x250;
    public const int PrefAddress = 0x258;
    public const int InitSize = 0x260;
    public const int HandoverOffset = 0x264;
    public const int KernelInfoOffset = 0x268;

    /// <summary>End of the header as protocol 2.15 defines it (after kernel_info_offset).</summary>
    public const int End215 = 0x26c;

    /// <summary>boot_params has room for the header up to 0x290 (edd_mbr_sig_buffer follows).</summary>
    public const int MaxEnd = 0x290;

    /// <summary>"HdrS" read as a little-endian dword.</summary>
    public const uint HeaderMagic = 0x5372_6448;

    public const ushort BootFlagMagic = 0xaa55;

    // loadflags bits.
    public const byte LOADED_HIGH = 1 << 0;
    public const byte CAN_USE_HEAP = 1 << 7;

    // xloadflags bits.
    public const ushort XLF_KERNEL_64 = 1 << 0;
    public const ushort XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;

    /// <summary>type_of_loader 0xFF: a boot loader without an assigned ID.</summary>
    public const byte UndefinedLoader = 0xff;

    /// <summary>The oldest protocol this loader accepts: 2.12 added xloadflags, which says whether the 64-bit entry exists.</summary>
    public const ushort MinimumVersion = 0x020c;

    /// <summary>Protocol 2.15, the version written into the header made up for an ELF vmlinux.</summary>
    public const ushort Version215 = 0x020f;

    public static string FormatVersion(ushort v) => $"{v >> 8}.{v & 0xff:D2}";
}

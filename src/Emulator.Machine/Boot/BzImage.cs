using static Emulator.Machine.Boot.SetupHeader;

namespace Emulator.Machine.Boot;

/// <summary>
/// Parses a bzImage (boot.rst, "The Real-Mode Kernel Header" and "Loading The Rest of The
/// Kernel"). The protected-mode kernel starts at (setup_sects + 1) * 512 in the file, is
/// syssize * 16 bytes long, and is loaded at 1 MiB (<see cref="LoadAddress"/>); its 64-bit entry
/// (startup_64) is 0x200 bytes in.
/// <para>
/// Why 1 MiB and not pref_address: the compressed kernel is position independent and, being
/// relocatable or not, first moves itself to max(align_up(load, kernel_alignment),
/// LOAD_PHYSICAL_ADDR = pref_address) and decompresses there within init_size bytes
/// (arch/x86/boot/compressed/head_64.S). Loading at 1 MiB, as QEMU and GRUB do, keeps the
/// image clear of that buffer's start for every kernel. <see cref="KernelImage.ReservedEnd"/>
/// covers both the loaded image and the decompression buffer.
/// </para>
/// </summary>
public static class BzImage
{
    public const ulong LoadAddress = 0x10_0000;

    /// <summary>startup_64 is at offset 0x200 of the protected-mode kernel (boot.rst, "64-bit Boot Protocol").</summary>
    public const ulong Entry64Offset = 0x200;

    internal static bool Looks(ImageBytes b) => b.Has(Header, 4) && b.U32(Header, "setup header magic") == HeaderMagic;

    internal static KernelImage Parse(ImageBytes b)
    {
        ushort version = b.U16(SetupHeader.Version, "setup header version");
        if (version < MinimumVersion)
        {
            throw b.Error($"boot protocol {FormatVersion(version)} is too old: the 64-bit entry needs protocol {FormatVersion(MinimumVersion)} or later");
        }

        // Protocol 2.12+: the header runs at least to handover_offset; its real end is 0x202 + the jump's offset byte.
        int headerEnd = Math.Min(Header + b.U8(Jump + 1, "setup header jump"), MaxEnd);
        headerEnd = Math.Max(headerEnd, KernelInfoOffset);
        byte[] header = b.Slice(Start, (ulong)(headerEnd - Start), "the setup header").ToArray();

        ushort xloadflags = b.U16(XLoadFlags, "xloadflags");
        if ((xloadflags & XLF_KERNEL_64) == 0)
        {
            throw b.Error("not a 64-bit kernel: xloadflags lacks XLF_KERNEL_64, so it has no 64-bit entry point");
        }

        int setupSects = b.U8(SetupSects, "setup_sects");
        if (setupSects == 0)
        {
            setupSects = 4; // boot.rst: "If this field is 0, the real value is 4."
        }

        ulong setupBytes = (ulong)(setupSects + 1) * 512;
        ulong kernelBytes = (ulong)b.U32(SysSize, "syssize") * 16;
        if (kernelBytes <= Entry64Offset)
        {
            throw b.Error($"syssize says the protected-mode kernel is {kernelBytes} bytes, too small to hold the 64-bit entry at +0x{Entry64Offset:x}");
        }

        var payload = b.Slice(setupBytes, kernelBytes, $"the protected-mode kernel ({setupSects} setup sectors + syssize {kernelBytes / 16} paragraphs)");

        uint alignment = b.U32(KernelAlignment, "kernel_alignment");
        bool relocatable = b.U8(RelocatableKernel, "relocatable_kernel") != 0;
        ulong pref = b.U64(PrefAddress, "pref_address");
        uint initSize = b.U32(InitSize, "init_size");
        if (relocatable && (alignment == 0 || (alignment & (alignment - 1)) != 0))
        {
            throw b.Error($"kernel_alignment 0x{alignment:x} is not a power of two");
        }

        // Where the decompressor will run (head_64.S): the aligned load address, but never below LOAD_PHYSICAL_ADDR.
        ulong runAt = relocatable ? Math.Max(AlignUp(LoadAddress, alignment), pref) : pref;
        ulong reservedEnd = Math.Max(LoadAddress + kernelBytes, runAt + initSize);

        return new KernelImage
        {
            FileName = b.FileName,
            Format = KernelFormat.BzImage,
            ProtocolVersion = version,
            Header = header,
            Segments = [new KernelSegment(LoadAddress, payload.ToArray(), kernelBytes)],
            EntryPoint64 = LoadAddress + Entry64Offset,
            LoadAddress = LoadAddress,
            ReservedEnd = reservedEnd,
            InitrdAddrMax = b.U32(SetupHeader.InitrdAddrMax, "initrd_addr_max"),
            CmdlineSize = b.U32(SetupHeader.CmdlineSize, "cmdline_size"),
            KernelAlignment = alignment,
            Relocatable = relocatable,
            PrefAddress = pref,
            InitSize = initSize,
            XLoadFlags = xloadflags,
        };
    }

    private static ulong AlignUp(ulong v, ulong alignment) => alignment == 0 ? v : (v + alignment - 1) & ~(alignment - 1);
}

namespace Emulator.Machine.Boot;

public enum KernelFormat
{
    /// <summary>A bzImage: real-mode setup with the setup header, then the compressed protected-mode kernel.</summary>
    BzImage,

    /// <summary>An uncompressed ELF64 vmlinux.</summary>
    Elf,
}

/// <summary>Bytes to place at a physical address; the rest of <see cref="MemorySize"/> is zero-filled (ELF .bss).</summary>
public sealed record KernelSegment(ulong PhysicalAddress, ReadOnlyMemory<byte> Data, ulong MemorySize);

/// <summary>
/// A parsed kernel, ready to load: what goes where, the 64-bit entry point, and the setup
/// header to copy into boot_params (the file's own for a bzImage, a made-up protocol 2.15
/// header for an ELF vmlinux).
/// </summary>
public sealed class KernelImage
{
    public required string FileName { get; init; }

    public required KernelFormat Format { get; init; }

    /// <summary>Boot protocol version (0x020F = 2.15).</summary>
    public required ushort ProtocolVersion { get; init; }

    /// <summary>The setup header bytes from offset 0x1F1 on, as they go into boot_params at 0x1F1.</summary>
    public required byte[] Header { get; init; }

    public required IReadOnlyList<KernelSegment> Segments { get; init; }

    /// <summary>Physical address of the 64-bit entry (startup_64).</summary>
    public required ulong EntryPoint64 { get; init; }

    /// <summary>Lowest physical address the kernel is loaded at.</summary>
    public required ulong LoadAddress { get; init; }

    /// <summary>
    /// End of the memory the kernel uses before it reads the e820 map: for a bzImage the larger of
    /// the loaded image's end and the decompression buffer (run address + init_size).
    /// </summary>
    public required ulong ReservedEnd { get; init; }

    /// <summary>Highest address an initrd byte may occupy (initrd_addr_max).</summary>
    public required uint InitrdAddrMax { get; init; }

    /// <summary>Longest command line the kernel accepts, without the terminating NUL (cmdline_size).</summary>
    public required uint CmdlineSize { get; init; }

    public uint KernelAlignment { get; init; }

    public bool Relocatable { get; init; }

    public ulong PrefAddress { get; init; }

    public uint InitSize { get; init; }

    public ushort XLoadFlags { get; init; }

    /// <summary>Bytes of the loaded image (protected-mode kernel or all PT_LOAD file bytes).</summary>
    public ulong LoadedBytes => (ulong)Segments.Sum(s => (long)s.Data.Length);

    /// <summary>Recognises a bzImage (a "HdrS" setup header) or an ELF64 vmlinux and parses it.</summary>
    public static KernelImage Parse(byte[] file, string fileName)
    {
        var bytes = new ImageBytes(file, fileName);
        if (BzImage.Looks(bytes))
        {
            return BzImage.Parse(bytes);
        }

        if (ElfKernel.Looks(bytes))
        {
            return ElfKernel.Parse(bytes);
        }

        if (file.Length < SetupHeader.Header + 4)
        {
            throw bytes.Error($"not a kernel: {file.Length} bytes is too short for a bzImage setup header and there is no ELF magic");
        }

        throw bytes.Error("not a kernel: neither a bzImage (no \"HdrS\" at 0x202) nor an ELF file");
    }
}

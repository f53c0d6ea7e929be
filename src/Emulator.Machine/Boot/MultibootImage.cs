using System.Buffers.Binary;

namespace Emulator.Machine.Boot;

/// <summary>
/// A Multiboot (version 0.6.96) kernel, parsed: the header found in the file's first 8192 bytes
/// (section 3.1.1: magic 0x1BADB002, flags, checksum, 32-bit aligned) and what to load where.
/// With header flag bit 16 the header's address fields say where the image goes (the "a.out
/// kludge"); otherwise the file must be ELF (ELF32, or ELF64 as GRUB accepts) and its PT_LOAD
/// segments go to their physical addresses. The entry is 32-bit protected-mode code.
/// </summary>
public sealed class MultibootImage
{
    public const uint HeaderMagic = 0x1BADB002;

    /// <summary>The value EAX holds at entry (section 3.2).</summary>
    public const uint BootloaderMagic = 0x2BADB002;

    /// <summary>The header must lie entirely within this many bytes from the start of the file.</summary>
    public const int SearchLimit = 8192;

    public const uint FlagPageAlign = 1 << 0, FlagMemoryInfo = 1 << 1, FlagVideoMode = 1 << 2, FlagAddresses = 1 << 16;

    /// <summary>Requirement bits this loader meets: page-aligned modules and memory information (video mode is a wish it may ignore, as QEMU does).</summary>
    private const uint KnownRequirements = FlagPageAlign | FlagMemoryInfo | FlagVideoMode;

    private const ushort EM_386 = 3, EM_X86_64 = 62;

    public required string FileName { get; init; }

    /// <summary>Offset of the header in the file.</summary>
    public required int HeaderOffset { get; init; }

    public required uint Flags { get; init; }

    public required IReadOnlyList<KernelSegment> Segments { get; init; }

    public required uint Entry { get; init; }

    /// <summary>What the loader read the layout from: "a.out kludge", "ELF32" or "ELF64".</summary>
    public required string Layout { get; init; }

    /// <summary>The lowest and the end of the memory the image occupies (bss included).</summary>
    public ulong LoadAddress => Segments.Min(s => s.PhysicalAddress);

    public ulong End => Segments.Max(s => s.PhysicalAddress + s.MemorySize);

    /// <summary>The offset of a valid Multiboot header (magic and checksum) in the first 8192 bytes, or -1.</summary>
    public static int FindHeader(ReadOnlySpan<byte> file)
    {
        int limit = Math.Min(file.Length, SearchLimit) - 12;
        for (int i = 0; i <= limit; i += 4)
        {
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file[i..]);
            if (magic != HeaderMagic)
            {
                continue;
            }

            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(file[(i + 4)..]);
            uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(file[(i + 8)..]);
            if (unchecked(magic + flags + checksum) == 0)
            {
                return i;
            }
        }

        return -1;
    }

    internal static MultibootImage Parse(ImageBytes b, int headerOffset)
    {
        uint flags = b.U32((ulong)headerOffset + 4, "the Multiboot header flags");
        uint unknown = flags & 0xffff & ~KnownRequirements;
        if (unknown != 0)
        {
            throw b.Error($"the Multiboot header requires features 0x{unknown:x} (flags 0x{flags:x}) this loader does not provide");
        }

        if ((flags & FlagAddresses) != 0)
        {
            return ParseAddressFields(b, headerOffset, flags);
        }

        if (!ElfKernel.Looks(b))
        {
            throw b.Error("a Multiboot header without the address fields (flag bit 16) needs an ELF file, and this is not one");
        }

        return ParseElf(b, headerOffset, flags);
    }

    /// <summary>The a.out kludge (section 3.1.3): header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr.</summary>
    private static MultibootImage ParseAddressFields(ImageBytes b, int at, uint flags)
    {
        ulong o = (ulong)at;
        uint headerAddr = b.U32(o + 12, "header_addr");
        uint loadAddr = b.U32(o + 16, "load_addr");
        uint loadEndAddr = b.U32(o + 20, "load_end_addr");
        uint bssEndAddr = b.U32(o + 24, "bss_end_addr");
        uint entry = b.U32(o + 28, "entry_addr");
        if (loadAddr > headerAddr || headerAddr - loadAddr > (uint)at)
        {
            throw b.Error($"Multiboot load_addr 0x{loadAddr:x} and header_addr 0x{headerAddr:x} put the load start before the file's start");
        }

        ulong fileOffset = (ulong)at - (headerAddr - loadAddr);
        ulong fileBytes = loadEndAddr == 0 ? (ulong)b.Length - fileOffset : (ulong)loadEndAddr - loadAddr;
        if (loadEndAddr != 0 && loadEndAddr < loadAddr)
        {
            throw b.Error($"Multiboot load_end_addr 0x{loadEndAddr:x} is below load_addr 0x{loadAddr:x}");
        }

        var data = b.Slice(fileOffset, fileBytes, "the Multiboot text and data (load_addr to load_end_addr)");
        ulong memSize = fileBytes;
        if (bssEndAddr != 0)
        {
            if (bssEndAddr < loadAddr + fileBytes)
            {
                throw b.Error($"Multiboot bss_end_addr 0x{bssEndAddr:x} is below the end of the loaded data 0x{loadAddr + fileBytes:x}");
            }

            memSize = bssEndAddr - (ulong)loadAddr;
        }

        if (entry < loadAddr || entry >= loadAddr + memSize)
        {
            throw b.Error($"Multiboot entry_addr 0x{entry:x} is outside the loaded image 0x{loadAddr:x}-0x{loadAddr + memSize:x}");
        }

        return new MultibootImage
        {
            FileName = b.FileName,
            HeaderOffset = at,
            Flags = flags,
            Segments = [new KernelSegment(loadAddr, data.ToArray(), memSize)],
            Entry = entry,
            Layout = "a.out kludge",
        };
    }

    private static MultibootImage ParseElf(ImageBytes b, int at, uint flags)
    {
        bool is64 = b.U8(4, "the ELF class") switch
        {
            1 => false,
            2 => true,
            byte c => throw b.Error($"ELF class {c} is neither ELFCLASS32 nor ELFCLASS64"),
        };
        if (b.U8(5, "the ELF data encoding") != 1)
        {
            throw b.Error("ELF data encoding is not little-endian");
        }

        ushort machine = b.U16(18, "e_machine");
        if (machine != EM_386 && machine != EM_X86_64)
        {
            throw b.Error($"ELF e_machine is {machine}, not x86 ({EM_386}) or x86-64 ({EM_X86_64})");
        }

        ulong entry = is64 ? b.U64(24, "e_entry") : b.U32(24, "e_entry");
        ulong phoff = is64 ? b.U64(32, "e_phoff") : b.U32(28, "e_phoff");
        ushort phentsize = b.U16(is64 ? 54UL : 42UL, "e_phentsize");
        ushort phnum = b.U16(is64 ? 56UL : 44UL, "e_phnum");
        int minimum = is64 ? 56 : 32;
        if (phentsize < minimum)
        {
            throw b.Error($"ELF e_phentsize {phentsize} is smaller than a program header ({minimum})");
        }

        var segments = new List<KernelSegment>();
        ulong physicalEntry = entry;
        for (ulong i = 0; i < phnum; i++)
        {
            ulong ph = phoff + i * phentsize;
            b.Slice(ph, (ulong)minimum, $"program header {i}");
            if (b.U32(ph, "p_type") != ElfKernel.PT_LOAD)
            {
                continue;
            }

            ulong offset = is64 ? b.U64(ph + 8, "p_offset") : b.U32(ph + 4, "p_offset");
            ulong vaddr = is64 ? b.U64(ph + 16, "p_vaddr") : b.U32(ph + 8, "p_vaddr");
            ulong paddr = is64 ? b.U64(ph + 24, "p_paddr") : b.U32(ph + 12, "p_paddr");
            ulong filesz = is64 ? b.U64(ph + 32, "p_filesz") : b.U32(ph + 16, "p_filesz");
            ulong memsz = is64 ? b.U64(ph + 40, "p_memsz") : b.U32(ph + 20, "p_memsz");
            if (memsz < filesz)
            {
                throw b.Error($"ELF segment {i}: p_memsz 0x{memsz:x} is smaller than p_filesz 0x{filesz:x}");
            }

            if (memsz == 0)
            {
                continue;
            }

            if (paddr >= E820.FourGiB || memsz > E820.FourGiB - paddr)
            {
                throw b.Error($"ELF segment {i} at physical 0x{paddr:x} (0x{memsz:x} bytes) does not lie below 4 GiB");
            }

            var data = b.Slice(offset, filesz, $"ELF segment {i}'s file bytes");
            segments.Add(new KernelSegment(paddr, data.ToArray(), memsz));
            if (entry >= vaddr && entry - vaddr < memsz)
            {
                physicalEntry = paddr + (entry - vaddr);
            }
        }

        if (segments.Count == 0)
        {
            throw b.Error("the ELF file has no PT_LOAD segment to load");
        }

        if (physicalEntry >= E820.FourGiB)
        {
            throw b.Error($"the entry point 0x{entry:x} is not a 32-bit physical address");
        }

        return new MultibootImage
        {
            FileName = b.FileName,
            HeaderOffset = at,
            Flags = flags,
            Segments = segments,
            Entry = (uint)physicalEntry,
            Layout = is64 ? "ELF64" : "ELF32",
        };
    }
}

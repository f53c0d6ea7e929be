using System.Buffers.Binary;
using static Emulator.Machine.Boot.SetupHeader;

namespace Emulator.Machine.Boot;

/// <summary>
/// Parses an uncompressed ELF64 x86-64 vmlinux (System V ABI, ELF-64 Object File Format): its
/// PT_LOAD segments are loaded at their physical addresses (p_paddr) and the entry point is
/// e_entry made physical. A vmlinux carries no setup header, so a protocol 2.15 header with
/// the kernel's defaults is made up for boot_params.
/// </summary>
public static class ElfKernel
{
    public const ushort EM_X86_64 = 62;
    public const ushort ET_EXEC = 2;
    public const uint PT_LOAD = 1;
    public const int Elf64HeaderSize = 64;
    public const int Elf64PhdrSize = 56;

    /// <summary>Defaults the made-up header gives: CONFIG_PHYSICAL_ALIGN, COMMAND_LINE_SIZE - 1, and the 2 GiB initrd limit of every 64-bit kernel.</summary>
    public const uint DefaultAlignment = 0x20_0000, DefaultCmdlineSize = 2047, DefaultInitrdAddrMax = 0x7fff_ffff;

    internal static bool Looks(ImageBytes b) => b.Has(0, 4) && b.Data[0] == 0x7f && b.Data[1] == (byte)'E' && b.Data[2] == (byte)'L' && b.Data[3] == (byte)'F';

    internal static KernelImage Parse(ImageBytes b)
    {
        b.Slice(0, Elf64HeaderSize, "the ELF header");
        if (b.Data[4] != 2)
        {
            throw b.Error($"not a 64-bit kernel: ELF class {b.Data[4]} (a 64-bit vmlinux is ELFCLASS64 = 2)");
        }

        if (b.Data[5] != 1)
        {
            throw b.Error("ELF data encoding is not little-endian");
        }

        ushort machine = b.U16(18, "e_machine");
        if (machine != EM_X86_64)
        {
            throw b.Error($"ELF e_machine is {machine}, not x86-64 ({EM_X86_64})");
        }

        ushort type = b.U16(16, "e_type");
        if (type != ET_EXEC)
        {
            throw b.Error($"ELF e_type is {type}, not an executable (ET_EXEC)");
        }

        ulong entry = b.U64(24, "e_entry");
        ulong phoff = b.U64(32, "e_phoff");
        ushort phentsize = b.U16(54, "e_phentsize");
        ushort phnum = b.U16(56, "e_phnum");
        if (phentsize < Elf64PhdrSize)
        {
            throw b.Error($"ELF e_phentsize {phentsize} is smaller than an ELF64 program header ({Elf64PhdrSize})");
        }

        var segments = new List<KernelSegment>();
        var loads = new List<(ulong VAddr, ulong PAddr, ulong MemSize)>();
        for (int i = 0; i < phnum; i++)
        {
            ulong at = phoff + (ulong)i * phentsize;
            var ph = b.Slice(at, Elf64PhdrSize, $"program header {i}");
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != PT_LOAD)
            {
                continue;
            }

            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
            ulong vaddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]);
            ulong paddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]);
            ulong filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
            ulong memsz = BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]);
            if (filesz > memsz)
            {
                throw b.Error($"PT_LOAD segment {i} has p_filesz 0x{filesz:x} larger than p_memsz 0x{memsz:x}");
            }

            if (memsz == 0)
            {
                continue;
            }

            if (paddr + memsz < paddr)
            {
                throw b.Error($"PT_LOAD segment {i} at 0x{paddr:x} + 0x{memsz:x} wraps around the address space");
            }

            var data = b.Slice(offset, filesz, $"PT_LOAD segment {i} (file offset 0x{offset:x}, 0x{filesz:x} bytes)");
            segments.Add(new KernelSegment(paddr, data.ToArray(), memsz));
            loads.Add((vaddr, paddr, memsz));
        }

        if (segments.Count == 0)
        {
            throw b.Error("the ELF file has no PT_LOAD segment to load");
        }

        ulong physEntry = PhysicalEntry(b, entry, loads);
        ulong low = segments.Min(s => s.PhysicalAddress);
        ulong high = segments.Max(s => s.PhysicalAddress + s.MemorySize);
        return new KernelImage
        {
            FileName = b.FileName,
            Format = KernelFormat.Elf,
            ProtocolVersion = Version215,
            Header = DefaultHeader(low, high - low),
            Segments = segments,
            EntryPoint64 = physEntry,
            LoadAddress = low,
            ReservedEnd = high,
            InitrdAddrMax = DefaultInitrdAddrMax,
            CmdlineSize = DefaultCmdlineSize,
            KernelAlignment = DefaultAlignment,
            Relocatable = false,
            PrefAddress = low,
            InitSize = (uint)Math.Min(high - low, uint.MaxValue),
            XLoadFlags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
        };
    }

    /// <summary>e_entry is virtual in some links and physical in others (vmlinux uses phys_startup_64); either way, find the segment holding it.</summary>
    private static ulong PhysicalEntry(ImageBytes b, ulong entry, List<(ulong VAddr, ulong PAddr, ulong MemSize)> loads)
    {
        foreach (var (vaddr, paddr, memsz) in loads)
        {
            if (entry >= vaddr && entry - vaddr < memsz)
            {
                return entry - (vaddr - paddr);
            }
        }

        foreach (var (_, paddr, memsz) in loads)
        {
            if (entry >= paddr && entry - paddr < memsz)
            {
                return entry;
            }
        }

        throw b.Error($"ELF entry point 0x{entry:x} is not inside any PT_LOAD segment");
    }

    /// <summary>
    /// A setup header for a kernel without one: the fields a protocol 2.15 bzImage of the same
    /// kernel would carry that the 64-bit kernel reads (version, alignment, limits), from
    /// 0x1F1 to the end of the 2.15 header.
    /// </summary>
    public static byte[] DefaultHeader(ulong loadAddress, ulong initSize)
    {
        var h = new byte[End215 - Start];
        Span<byte> s = h;
        BinaryPrimitives.WriteUInt16LittleEndian(s[(VidMode - Start)..], 0xffff); // "normal" video mode
        BinaryPrimitives.WriteUInt16LittleEndian(s[(BootFlag - Start)..], BootFlagMagic);
        s[Jump - Start] = 0xeb; // jmp short to the end of the header, so 0x202 + byte[0x201] = end
        s[Jump + 1 - Start] = (byte)(End215 - Header);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(Header - Start)..], HeaderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[(SetupHeader.Version - Start)..], Version215);
        s[LoadFlags - Start] = LOADED_HIGH;
        BinaryPrimitives.WriteUInt32LittleEndian(s[(Code32Start - Start)..], (uint)loadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(SetupHeader.InitrdAddrMax - Start)..], DefaultInitrdAddrMax);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(KernelAlignment - Start)..], DefaultAlignment);
        BinaryPrimitives.WriteUInt16LittleEndian(s[(XLoadFlags - Start)..], XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(SetupHeader.CmdlineSize - Start)..], DefaultCmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(s[(PrefAddress - Start)..], loadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(InitSize - Start)..], (uint)Math.Min(initSize, uint.MaxValue));
        return h;
    }
}

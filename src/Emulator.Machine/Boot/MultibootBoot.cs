using System.Buffers.Binary;
using System.Text;
using Emulator.X86.Memory;

namespace Emulator.Machine.Boot;

/// <summary>Where the Multiboot loader puts its structures: below 1 MiB, where the kernel is not.</summary>
public static class MultibootLayout
{
    /// <summary>The Multiboot information structure (section 3.3), 116 bytes.</summary>
    public const ulong InfoAddress = 0x9000;

    public const int InfoSize = 116;

    /// <summary>The memory map: entries of u32 size (20), u64 base, u64 length, u32 type.</summary>
    public const ulong MmapAddress = 0x9100;

    /// <summary>The module list: one 16-byte entry (mod_start, mod_end, string, reserved).</summary>
    public const ulong ModulesAddress = 0x9800;

    public const ulong BootLoaderNameAddress = 0x9900;

    /// <summary>The module's string (its file name), NUL-terminated.</summary>
    public const ulong ModuleStringAddress = 0x9a00;

    public const int ModuleStringMax = 0x600;

    /// <summary>A stack for the entry code (the specification leaves ESP undefined; a valid one is kinder).</summary>
    public const ulong StackTop = 0x8ff0;
}

/// <summary>
/// The Multiboot (0.6.96) boot: load the image, put -initrd as the one module on the next page
/// after the kernel, write the information structure (memory sizes, the command line, the
/// module, an mmap from the machine's e820 map, the boot loader's name), and return the entry
/// state of section 3.2: 32-bit protected mode, paging off, CS a flat 4 GiB code segment, the
/// other segment registers a flat data segment, EAX = 0x2BADB002, EBX = the information address,
/// interrupts off. Bad input gives a <see cref="BootImageException"/>.
/// </summary>
public static class MultibootBoot
{
    /// <summary>Flat 4 GiB 32-bit code, DPL 0 (type 0xB): G=1, D=1.</summary>
    public const ulong Code32Descriptor = 0x00cf_9b00_0000_ffff;

    public const uint InfoMemory = 1 << 0, InfoCmdline = 1 << 2, InfoModules = 1 << 3, InfoMmap = 1 << 6, InfoBootLoaderName = 1 << 9;

    public const string BootLoaderName = "emu";

    internal static BootCpuState Load(GuestMemory memory, LinuxBootOptions options, MultibootImage image)
    {
        ulong ramSize = options.RamSize ?? memory.Size;
        ulong lowEnd = E820.LowRamEnd(ramSize);
        if (ramSize < E820.MinimumRam || memory.Size < lowEnd)
        {
            throw new ArgumentException($"guest RAM of 0x{ramSize:x} bytes (memory 0x{memory.Size:x}) cannot hold a Multiboot boot");
        }

        foreach (var seg in image.Segments)
        {
            if (seg.PhysicalAddress < E820.HighMemoryStart || seg.PhysicalAddress + seg.MemorySize > lowEnd)
            {
                throw new BootImageException(image.FileName,
                    $"Multiboot kernel ({image.Layout}) loads at 0x{seg.PhysicalAddress:x}-0x{seg.PhysicalAddress + seg.MemorySize:x}, " +
                    $"outside RAM from 1 MiB to 0x{lowEnd:x} (below 1 MiB is the loader's)");
            }
        }

        byte[] cmdline = Encoding.UTF8.GetBytes(options.CommandLine);
        if ((ulong)cmdline.Length >= BootLayout.CommandLineMax)
        {
            throw new BootImageException(image.FileName, $"command line too long: {cmdline.Length} bytes, at most {BootLayout.CommandLineMax - 1}");
        }

        if (Array.IndexOf(cmdline, (byte)0) >= 0)
        {
            throw new BootImageException(image.FileName, "command line contains a NUL character");
        }

        byte[] moduleName = Encoding.UTF8.GetBytes(options.InitrdName);
        if (moduleName.Length >= MultibootLayout.ModuleStringMax)
        {
            moduleName = moduleName[..(MultibootLayout.ModuleStringMax - 1)];
        }

        // The module goes on the first page after the kernel (page aligned, as header flag 0 may ask).
        ulong moduleAddress = (image.End + 0xfff) & ~0xfffUL;
        ulong moduleSize = (ulong)(options.Initrd?.Length ?? 0);
        if (options.Initrd is not null && moduleAddress + moduleSize > lowEnd)
        {
            throw new BootImageException(options.InitrdName, $"module of {moduleSize} bytes does not fit in RAM after the kernel (0x{moduleAddress:x} to 0x{lowEnd:x})");
        }

        // Everything is checked: now write guest memory.
        foreach (var seg in image.Segments)
        {
            seg.Data.Span.CopyTo(memory.Span(seg.PhysicalAddress, seg.Data.Length));
            memory.Span(seg.PhysicalAddress + (ulong)seg.Data.Length, (int)(seg.MemorySize - (ulong)seg.Data.Length)).Clear();
        }

        uint flags = InfoMemory | InfoCmdline | InfoMmap | InfoBootLoaderName;
        var info = memory.Span(MultibootLayout.InfoAddress, MultibootLayout.InfoSize);
        info.Clear();
        if (options.Initrd is not null)
        {
            options.Initrd.AsSpan().CopyTo(memory.Span(moduleAddress, options.Initrd.Length));
            var module = memory.Span(MultibootLayout.ModulesAddress, 16);
            BinaryPrimitives.WriteUInt32LittleEndian(module, (uint)moduleAddress);
            BinaryPrimitives.WriteUInt32LittleEndian(module[4..], (uint)(moduleAddress + moduleSize));
            BinaryPrimitives.WriteUInt32LittleEndian(module[8..], (uint)MultibootLayout.ModuleStringAddress);
            BinaryPrimitives.WriteUInt32LittleEndian(module[12..], 0);
            WriteString(memory, MultibootLayout.ModuleStringAddress, moduleName);
            BinaryPrimitives.WriteUInt32LittleEndian(info[20..], 1);
            BinaryPrimitives.WriteUInt32LittleEndian(info[24..], (uint)MultibootLayout.ModulesAddress);
            flags |= InfoModules;
        }

        WriteString(memory, BootLayout.CommandLineAddress, cmdline);
        WriteString(memory, MultibootLayout.BootLoaderNameAddress, Encoding.ASCII.GetBytes(BootLoaderName));

        // mem_lower: KiB from 0 to the EBDA; mem_upper: KiB from 1 MiB to the first hole (section 3.3).
        BinaryPrimitives.WriteUInt32LittleEndian(info[4..], (uint)(E820.EbdaStart / 1024));
        BinaryPrimitives.WriteUInt32LittleEndian(info[8..], (uint)((lowEnd - E820.HighMemoryStart) / 1024));
        BinaryPrimitives.WriteUInt32LittleEndian(info[16..], (uint)BootLayout.CommandLineAddress);

        var e820 = E820.ForRam(ramSize);
        var mmap = memory.Span(MultibootLayout.MmapAddress, e820.Count * 24);
        for (int i = 0; i < e820.Count; i++)
        {
            var entry = mmap[(i * 24)..];
            BinaryPrimitives.WriteUInt32LittleEndian(entry, 20); // size of the rest of the entry
            BinaryPrimitives.WriteUInt64LittleEndian(entry[4..], e820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[12..], e820[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[20..], (uint)e820[i].Type);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(info[44..], (uint)mmap.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(info[48..], (uint)MultibootLayout.MmapAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(info[64..], (uint)MultibootLayout.BootLoaderNameAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(info, flags);

        BootCpuState.WriteGdt(memory, Code32Descriptor);
        return new BootCpuState
        {
            Rip = image.Entry,
            Rax = MultibootImage.BootloaderMagic,
            Rbx = MultibootLayout.InfoAddress,
            Rsi = 0,
            Rsp = MultibootLayout.StackTop,
            Code = Code32Descriptor,
            Cr0 = BootCpuState.Cr0PE | BootCpuState.Cr0ET,
            Cr3 = 0,
            Cr4 = 0,
            Efer = 0,
        };
    }

    private static void WriteString(GuestMemory memory, ulong address, byte[] text)
    {
        var dest = memory.Span(address, text.Length + 1);
        text.CopyTo(dest);
        dest[^1] = 0;
    }
}

using System.Text;
using Emulator.X86.Memory;

namespace Emulator.Machine.Boot;

/// <summary>What to boot: the kernel (bzImage or ELF vmlinux), an optional initrd and the command line.</summary>
public sealed record LinuxBootOptions
{
    public required byte[] Kernel { get; init; }

    /// <summary>Names the kernel in error messages (its path, usually).</summary>
    public string KernelName { get; init; } = "kernel";

    public byte[]? Initrd { get; init; }

    public string InitrdName { get; init; } = "initrd";

    public string CommandLine { get; init; } = "";

    /// <summary>Guest RAM in bytes; defaults to the size of the guest memory. RAM beyond 3 GiB is mapped at 4 GiB (see <see cref="E820"/>).</summary>
    public ulong? RamSize { get; init; }

    /// <summary>The RSDP's guest address for boot_params.acpi_rsdp_addr (0: let the kernel scan for it).</summary>
    public ulong AcpiRsdpAddress { get; init; }
}

/// <summary>Where things went, and the vCPU state to start the kernel with.</summary>
public sealed record LinuxBootInfo(
    KernelImage Kernel,
    ulong BootParamsAddress,
    ulong CommandLineAddress,
    ulong InitrdAddress,
    ulong InitrdSize,
    IReadOnlyList<E820Entry> E820,
    BootCpuState Cpu);

/// <summary>
/// The direct Linux boot (boot.rst, 64-bit boot protocol): parse the kernel, load it, place the
/// initrd as high as the kernel allows, write the command line, boot_params with the e820 map,
/// the GDT and identity page tables, and return the vCPU state for the BSP. Bad input gives a
/// <see cref="BootImageException"/> naming the file and the reason.
/// </summary>
public static class LinuxBoot
{
    /// <summary>Reads the files and boots them (see <see cref="Load(GuestMemory, LinuxBootOptions)"/>).</summary>
    public static LinuxBootInfo LoadFiles(GuestMemory memory, string kernelPath, string? initrdPath, string commandLine, ulong acpiRsdpAddress = 0, ulong? ramSize = null) =>
        Load(memory, new LinuxBootOptions
        {
            Kernel = ReadFile(kernelPath),
            KernelName = kernelPath,
            Initrd = initrdPath is null ? null : ReadFile(initrdPath),
            InitrdName = initrdPath ?? "initrd",
            CommandLine = commandLine,
            AcpiRsdpAddress = acpiRsdpAddress,
            RamSize = ramSize,
        });

    public static LinuxBootInfo Load(GuestMemory memory, LinuxBootOptions options)
    {
        var kernel = KernelImage.Parse(options.Kernel, options.KernelName);
        ulong ramSize = options.RamSize ?? memory.Size;
        ulong lowEnd = E820.LowRamEnd(ramSize);
        if (ramSize < E820.MinimumRam || memory.Size < lowEnd)
        {
            throw new ArgumentException($"guest RAM of 0x{ramSize:x} bytes (memory 0x{memory.Size:x}) cannot hold a Linux boot");
        }

        if (kernel.LoadAddress < E820.HighMemoryStart)
        {
            throw new BootImageException(kernel.FileName, $"kernel loads at 0x{kernel.LoadAddress:x}, below 1 MiB where the boot structures live");
        }

        if (kernel.ReservedEnd > lowEnd)
        {
            throw new BootImageException(kernel.FileName,
                $"kernel does not fit in RAM: it needs memory up to 0x{kernel.ReservedEnd:x} (loaded at 0x{kernel.LoadAddress:x}, " +
                $"init_size 0x{kernel.InitSize:x}) but RAM below the MMIO hole ends at 0x{lowEnd:x}");
        }

        byte[] cmdline = Encoding.UTF8.GetBytes(options.CommandLine);
        ulong cmdlineLimit = Math.Min(kernel.CmdlineSize, BootLayout.CommandLineMax - 1);
        if ((ulong)cmdline.Length > cmdlineLimit)
        {
            throw new BootImageException(kernel.FileName, $"command line too long: {cmdline.Length} bytes, the kernel accepts at most {cmdlineLimit} (cmdline_size)");
        }

        if (Array.IndexOf(cmdline, (byte)0) >= 0)
        {
            throw new BootImageException(kernel.FileName, "command line contains a NUL character");
        }

        var (initrdAddress, initrdSize) = PlaceInitrd(options, kernel, lowEnd);

        // Everything is checked: now write guest memory.
        foreach (var seg in kernel.Segments)
        {
            seg.Data.Span.CopyTo(memory.Span(seg.PhysicalAddress, seg.Data.Length));
            ZeroFill(memory, seg.PhysicalAddress + (ulong)seg.Data.Length, seg.MemorySize - (ulong)seg.Data.Length);
        }

        if (initrdSize > 0)
        {
            options.Initrd.AsSpan().CopyTo(memory.Span(initrdAddress, options.Initrd!.Length));
        }

        var cmdDest = memory.Span(BootLayout.CommandLineAddress, cmdline.Length + 1);
        cmdline.CopyTo(cmdDest);
        cmdDest[^1] = 0;

        var e820 = E820.ForRam(ramSize);
        byte[] zeroPage = BootParams.Build(new BootParams.Contents
        {
            Header = kernel.Header,
            CommandLineAddress = BootLayout.CommandLineAddress,
            InitrdAddress = initrdAddress,
            InitrdSize = initrdSize,
            E820 = e820,
            AcpiRsdpAddress = options.AcpiRsdpAddress,
            KernelLoadAddress = kernel.LoadAddress,
        });
        zeroPage.CopyTo(memory.Span(BootLayout.BootParamsAddress, zeroPage.Length));

        BootCpuState.WriteTables(memory, E820.RamTop(ramSize));
        var cpu = new BootCpuState { Rip = kernel.EntryPoint64, Rsi = BootLayout.BootParamsAddress };
        return new LinuxBootInfo(kernel, BootLayout.BootParamsAddress, BootLayout.CommandLineAddress, initrdAddress, initrdSize, e820, cpu);
    }

    /// <summary>
    /// The initrd goes as high as possible (boot.rst: "the initrd should be loaded as high as
    /// possible") with its last byte at or below initrd_addr_max and below the end of low RAM,
    /// page aligned, and above everything the kernel uses before it parses e820.
    /// </summary>
    private static (ulong Address, ulong Size) PlaceInitrd(LinuxBootOptions options, KernelImage kernel, ulong lowEnd)
    {
        if (options.Initrd is not { Length: > 0 } initrd)
        {
            return (0, 0);
        }

        ulong size = (ulong)initrd.Length;
        ulong limit = Math.Min((ulong)kernel.InitrdAddrMax + 1, lowEnd);
        ulong lowest = (kernel.ReservedEnd + 0xfff) & ~0xfffUL;
        if (size > limit || ((limit - size) & ~0xfffUL) < lowest)
        {
            throw new BootImageException(options.InitrdName,
                $"initrd of {size} bytes does not fit in RAM: it must lie between the kernel's end 0x{lowest:x} and 0x{limit:x} " +
                $"(the lower of initrd_addr_max + 1 and the end of RAM)");
        }

        return ((limit - size) & ~0xfffUL, size);
    }

    /// <summary>Clears an ELF segment's .bss part, in chunks a span can hold.</summary>
    private static void ZeroFill(GuestMemory memory, ulong address, ulong length)
    {
        while (length > 0)
        {
            int chunk = (int)Math.Min(length, 1 << 30);
            memory.Span(address, chunk).Clear();
            address += (ulong)chunk;
            length -= (ulong)chunk;
        }
    }

    private static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BootImageException(path, $"cannot read: {e.Message}");
        }
    }
}

using Emulator.X86.Memory;

namespace Emulator.Machine.Boot;

/// <summary>
/// Boots what -kernel names, picking the format by probing, in the order QEMU's PC does for
/// the formats emu knows: a Linux bzImage ("HdrS" setup header), then an ELF64 vmlinux without
/// a Multiboot header (as before Multiboot was known), then a Multiboot kernel (a valid header
/// in the first 8192 bytes; ELF32, ELF64 or the a.out kludge). An ELF64 file with a Multiboot
/// header is a Multiboot kernel: its entry is 32-bit code, and a Linux vmlinux carries none.
/// </summary>
public static class KernelLoader
{
    /// <summary>Loads the kernel (and initrd or module, command line) and returns the BSP's entry state.</summary>
    public static BootCpuState Load(GuestMemory memory, LinuxBootOptions options)
    {
        var bytes = new ImageBytes(options.Kernel, options.KernelName);
        int multiboot = MultibootImage.FindHeader(options.Kernel);
        bool elf = ElfKernel.Looks(bytes);
        bool elf64 = elf && bytes.Has(4, 1) && bytes.Data[4] == 2;
        if (BzImage.Looks(bytes) || (elf64 && multiboot < 0))
        {
            return LinuxBoot.Load(memory, options).Cpu;
        }

        if (multiboot >= 0)
        {
            return MultibootBoot.Load(memory, options, MultibootImage.Parse(bytes, multiboot));
        }

        string what = elf ? $"an ELF file of class {bytes.Data[4]} (a 64-bit vmlinux is ELFCLASS64) without a Multiboot header"
            : $"{options.Kernel.Length} bytes with no ELF magic";
        throw bytes.Error(
            $"not a kernel emu can boot: looked for a Linux bzImage (\"HdrS\" at 0x202), an ELF64 vmlinux and a Multiboot header " +
            $"(magic 0x{MultibootImage.HeaderMagic:X8} with its checksum in the first {MultibootImage.SearchLimit} bytes); found {what}");
    }
}

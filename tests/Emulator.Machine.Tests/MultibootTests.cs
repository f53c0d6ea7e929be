using System.Text;
using Emulator.Machine.Acpi;
using Emulator.Machine.Boot;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// Bare-metal Multiboot kernels written by the tests (<see cref="TestKernel"/>) booted on the PC
/// machine: COM1 output, isa-debug-exit, the Multiboot information, fw_cfg and SMP start-up.
/// </summary>
public sealed class MultibootTests
{
    /// <summary>Bounds how long a failing test waits; a passing one goes on as soon as the guest exits.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    internal sealed class Run(VirtualMachine vm, StringBuilder output) : IAsyncDisposable
    {
        public VirtualMachine Vm => vm;

        public string Output
        {
            get
            {
                lock (output)
                {
                    return output.ToString();
                }
            }
        }

        public async Task<MachineExit> ExitAsync() => await vm.Exited.WaitAsync(Limit);

        public ValueTask DisposeAsync() => vm.DisposeAsync();
    }

    internal static Run Boot(byte[] kernel, int cpus = 1, string commandLine = "", byte[]? initrd = null, bool noReboot = false)
    {
        var output = new StringBuilder();
        var vm = PcMachine.Build(new PcConfig
        {
            Kernel = kernel,
            KernelName = "test-kernel",
            Initrd = initrd,
            InitrdName = "test-module",
            CommandLine = commandLine,
            Cpus = cpus,
            MemoryBytes = 128UL << 20,
            NoReboot = noReboot,
            DebugExit = new IsaDebugExitConfig(TestKernel.DebugExitPort, 4),
            SerialOutput = bytes =>
            {
                lock (output)
                {
                    output.Append(Encoding.ASCII.GetString(bytes));
                }
            },
            Tier1 = null,
        });
        vm.Start();
        return new Run(vm, output);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AKernelPrintsOnCom1AndExitsThroughIsaDebugExit(bool aout)
    {
        await using var run = Boot(TestKernels.Hello(0x2a, aout));
        var exit = await run.ExitAsync();
        Assert.Equal(MachineExitReason.DebugExit, exit.Reason);
        Assert.Equal((0x2a << 1) | 1, exit.ExitCode);
        Assert.Equal("hello from a multiboot kernel\n", run.Output);
    }

    [Fact]
    public async Task TheKernelGetsTheMultibootInformation()
    {
        var k = new TestKernel();
        var a = k.A;
        a.mov(edi, __dword_ptr[TestKernel.SavedEbx]);
        k.Print("eax=");
        a.mov(edx, __dword_ptr[TestKernel.SavedEax]);
        k.PrintHex(edx);
        k.Print(" flags=");
        a.mov(edx, __dword_ptr[edi]);
        k.PrintHex(edx);
        k.Print(" lower=");
        a.mov(edx, __dword_ptr[edi + 4]);
        k.PrintDecimal(edx);
        k.Print(" upper=");
        a.mov(edx, __dword_ptr[edi + 8]);
        k.PrintDecimal(edx);
        k.Print(" cmdline=");
        a.mov(edx, __dword_ptr[edi + 16]);
        k.PrintString(edx);
        k.Print(" mods=");
        a.mov(edx, __dword_ptr[edi + 20]);
        k.PrintDecimal(edx);
        k.Print(" modlen=");
        a.mov(esi, __dword_ptr[edi + 24]);
        a.mov(edx, __dword_ptr[esi + 4]);
        a.sub(edx, __dword_ptr[esi]);
        k.PrintDecimal(edx);
        k.Print(" module=");
        a.mov(edx, __dword_ptr[esi]);
        k.PrintString(edx);
        k.Print(" name=");
        a.mov(esi, __dword_ptr[edi + 24]); // puts moved ESI along the module text
        a.mov(edx, __dword_ptr[esi + 8]);
        k.PrintString(edx);
        k.Print(" mmap=");
        a.mov(edx, __dword_ptr[edi + 44]);
        k.PrintDecimal(edx);
        k.Print(" loader=");
        a.mov(edx, __dword_ptr[edi + 64]);
        k.PrintString(edx);
        k.Print("\n");
        k.Exit(1);

        byte[] module = Encoding.ASCII.GetBytes("module text\0");
        await using var run = Boot(k.Build(), commandLine: "console=none test=multiboot", initrd: module);
        var exit = await run.ExitAsync();
        Assert.Equal(3, exit.ExitCode);
        const uint flags = MultibootBoot.InfoMemory | MultibootBoot.InfoCmdline | MultibootBoot.InfoModules | MultibootBoot.InfoMmap | MultibootBoot.InfoBootLoaderName;
        int mmapBytes = E820.ForRam(128UL << 20).Count * 24;
        Assert.Equal(
            $"eax=2badb002 flags={flags:x8} lower=639 upper={(128 << 10) - 1024} cmdline=console=none test=multiboot " +
            $"mods=1 modlen={module.Length} module=module text name=test-module mmap={mmapBytes} loader=emu\n",
            run.Output);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public async Task AnSmpKernelReadsTheCpuCountFromFwCfgAndStartsEveryAp(int cpus)
    {
        await using var run = Boot(TestKernels.Smp(), cpus);
        var exit = await run.ExitAsync();
        Assert.True(exit.Reason == MachineExitReason.DebugExit, $"{exit.Reason}: {exit.Detail}\n{run.Output}");
        Assert.Equal($"fw_cfg signature QEMU cpus={cpus} started={cpus - 1}\n", run.Output);
        Assert.Equal((cpus << 1) | 1, exit.ExitCode);
    }

    [Fact]
    public async Task AnElf64FileWithAMultibootHeaderBootsAsMultiboot()
    {
        // The ELF32 image's bytes as the one segment of an ELF64 file: its Multiboot header is
        // then inside the first 8192 bytes, and the entry is its 32-bit code.
        byte[] inner = TestKernels.Hello(7);
        byte[] elf64 = TestImages.Elf(
            TestKernel.LoadAddress + TestKernel.CodeOffset,
            [new TestImages.ElfSegment(TestKernel.LoadAddress, TestKernel.LoadAddress, inner, TestKernel.ImageSpan)]);
        await using var run = Boot(elf64);
        var exit = await run.ExitAsync();
        Assert.Equal(15, exit.ExitCode);
        Assert.Equal("hello from a multiboot kernel\n", run.Output);
    }

    [Fact]
    public void AFileThatIsNoKernelNamesWhatWasLookedFor()
    {
        using var memory = new X86.Memory.GuestMemory(64UL << 20);
        BootImageException Fails(byte[] file) =>
            Assert.Throws<BootImageException>(() => KernelLoader.Load(memory, new LinuxBootOptions { Kernel = file, KernelName = "junk" }));

        var junk = Fails(Encoding.ASCII.GetBytes(new string('x', 10000)));
        Assert.Contains("bzImage", junk.Reason);
        Assert.Contains("ELF64 vmlinux", junk.Reason);
        Assert.Contains("Multiboot header", junk.Reason);

        // An ELF32 file without a Multiboot header (the message emu used to give for every 32-bit kernel).
        byte[] elf32 = TestKernels.Hello(1);
        elf32[0x54] = 0; // break the magic
        Assert.Contains("ELF file of class 1", Fails(elf32).Reason);

        // A header that requires a feature this loader lacks (flag bit 3), checksum kept valid.
        byte[] wants = TestKernels.Hello(1);
        uint flags = BitConverter.ToUInt32(wants, 0x58) | 8;
        BitConverter.TryWriteBytes(wants.AsSpan(0x58), flags);
        BitConverter.TryWriteBytes(wants.AsSpan(0x5c), unchecked(0u - MultibootImage.HeaderMagic - flags));
        Assert.Contains("requires features 0x8", Fails(wants).Reason);

        // A Multiboot kernel that would load below 1 MiB, over the loader's structures.
        byte[] low = TestKernels.Hello(1, aout: true);
        BitConverter.TryWriteBytes(low.AsSpan(12), 0x8000u); // header_addr
        BitConverter.TryWriteBytes(low.AsSpan(16), 0x8000u); // load_addr
        BitConverter.TryWriteBytes(low.AsSpan(24), 0x9000u); // bss_end_addr
        BitConverter.TryWriteBytes(low.AsSpan(28), 0x8080u); // entry_addr
        Assert.Contains("below 1 MiB is the loader's", Fails(low).Reason);
    }
}

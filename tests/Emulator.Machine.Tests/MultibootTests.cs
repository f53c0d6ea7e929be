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
        var k = new TestKernel();
        k.Print("hello from a multiboot kernel\n");
        k.Exit(0x2a);
        await using var run = Boot(k.Build(aout));
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
        await using var run = Boot(SmpKernel(), cpus);
        var exit = await run.ExitAsync();
        Assert.True(exit.Reason == MachineExitReason.DebugExit, $"{exit.Reason}: {exit.Detail}\n{run.Output}");
        Assert.Equal($"fw_cfg signature QEMU cpus={cpus} started={cpus - 1}\n", run.Output);
        Assert.Equal((cpus << 1) | 1, exit.ExitCode);
    }

    /// <summary>
    /// Reads "QEMU" and FW_CFG_NB_CPUS from fw_cfg, copies a real-mode AP start-up routine (which
    /// increments a counter with a locked add) to 0x10000, and for every AP sends INIT then a
    /// start-up IPI with vector 0x10 through the local APIC's ICR; waits until every AP has counted.
    /// </summary>
    internal static byte[] SmpKernel()
    {
        const uint Trampoline = 0x10000, Counter = Trampoline + 0x800;
        const uint Icr = 0xfee0_0300, IcrHigh = 0xfee0_0310, Svr = 0xfee0_00f0;
        var k = new TestKernel();
        var a = k.A;

        // The signature, byte by byte (key 0).
        k.Print("fw_cfg signature ");
        a.mov(dx, 0x510);
        a.xor(eax, eax);
        a.@out(dx, ax);
        for (int i = 0; i < 4; i++)
        {
            a.mov(dx, 0x511);
            a.@in(al, dx);
            k.PrintAl();
        }

        k.ReadFwCfgU16(0x0005);
        a.mov(__dword_ptr[TestKernel.Scratch], eax);
        k.Store(Trampoline, TestKernel.RealMode(r =>
        {
            var idle = r.CreateLabel();
            r.mov(ax, cs);
            r.mov(ds, ax);
            r.@lock.inc(__dword_ptr[Counter - Trampoline]);
            r.cli();
            r.Label(ref idle);
            r.hlt();
            r.jmp(idle);
        }));
        a.mov(__dword_ptr[Counter], 0);
        a.mov(__dword_ptr[Svr], 0x1ff); // APIC software-enabled, spurious vector 0xFF

        var next = a.CreateLabel();
        var started = a.CreateLabel();
        a.mov(ecx, 1);
        a.Label(ref next);
        a.cmp(ecx, __dword_ptr[TestKernel.Scratch]);
        a.jae(started);
        a.mov(eax, ecx);
        a.shl(eax, 24);
        a.mov(__dword_ptr[IcrHigh], eax);
        a.mov(__dword_ptr[Icr], 0x0000_4500); // INIT, level assert
        a.mov(__dword_ptr[IcrHigh], eax);
        a.mov(__dword_ptr[Icr], 0x0000_4600 | (Trampoline >> 12)); // start-up, vector 0x10
        a.inc(ecx);
        a.jmp(next);
        a.Label(ref started);

        var wait = a.CreateLabel();
        a.mov(ecx, __dword_ptr[TestKernel.Scratch]);
        a.dec(ecx);
        a.Label(ref wait);
        a.pause();
        a.cmp(__dword_ptr[Counter], ecx);
        a.jne(wait);

        k.Print(" cpus=");
        a.mov(edx, __dword_ptr[TestKernel.Scratch]);
        k.PrintDecimal(edx);
        k.Print(" started=");
        a.mov(edx, __dword_ptr[Counter]);
        k.PrintDecimal(edx);
        k.Print("\n");

        // Exit with the CPU count as the value.
        a.mov(eax, __dword_ptr[TestKernel.Scratch]);
        a.mov(dx, TestKernel.DebugExitPort);
        a.@out(dx, al);
        k.Halt();
        return k.Build();
    }
}

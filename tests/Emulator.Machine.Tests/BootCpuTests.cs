using Emulator.Execution;
using Emulator.Machine.Boot;
using Emulator.X86;
using Emulator.X86.Memory;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Emulator.Machine.Tests.TestImages;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Machine.Tests;

/// <summary>
/// The initial vCPU state of the 64-bit boot protocol, proved by running a tiny "kernel" on
/// the real CPU: it reloads DS/ES/SS from __BOOT_DS and CS from __BOOT_CS (so the GDT must be
/// right), follows RSI to boot_params and the command line, writes to the last bytes of RAM
/// (so the identity map must cover it), and halts.
/// </summary>
public sealed class BootCpuTests : IDisposable
{
    private const ulong Ram = 64 << 20;
    private const ulong Magic = 0x1122_3344_5566_7788;
    private readonly GuestMemory mem = new(Ram);
    private readonly Cpu cpu;

    public BootCpuTests() => cpu = new Cpu(mem);

    public void Dispose()
    {
        cpu.Dispose();
        mem.Dispose();
    }

    private static byte[] TinyKernel(ulong address)
    {
        var a = new Assembler(64);
        var next = a.CreateLabel();
        a.mov(ax, BootCpuState.BootDs);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(ss, ax);
        // IRETQ to the next instruction: CS and SS are loaded from the GDT, checked as the CPU
        // checks any selector load. (Not LRETQ or JMP m16:xx: see the report on the frontend.)
        a.mov(rcx, rsp);
        a.push(BootCpuState.BootDs); // SS
        a.push(rcx); // RSP
        a.pushfq();
        a.push(BootCpuState.BootCs); // CS
        a.lea(rax, __[next]);
        a.push(rax); // RIP
        a.iretq();
        a.Label(ref next);
        a.mov(eax, __dword_ptr[rsi + 0x228]); // boot_params.hdr.cmd_line_ptr
        a.movzx(ebx, __byte_ptr[rax]); // first character of the command line
        a.mov(__dword_ptr[rsi + 0x1e4], ebx); // boot_params.scratch
        a.mov(rdx, Magic);
        a.mov(rcx, Ram - 8);
        a.mov(__qword_ptr[rcx], rdx); // the top of RAM is mapped
        a.push(rdx); // the boot stack works
        a.pop(rdi);
        a.mov(r8, __qword_ptr[rsi + 0x70]); // acpi_rsdp_addr
        a.hlt();
        using var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), address);
        return ms.ToArray();
    }

    private void RunToHalt()
    {
        var engine = new ExecutionEngine(cpu);
        var reason = engine.Run(1000);
        Assert.True(reason == StopReason.Halted, $"stopped with {reason} at 0x{cpu.S.Rip:x}, exception {cpu.S.ExceptionVector}");
    }

    private void CheckKernelRan(LinuxBootInfo info)
    {
        Assert.Equal(0x10, cpu.S.Cs.Selector);
        Assert.True(cpu.Mode.Is64, cpu.Mode.ToString());
        Assert.Equal(0x18, cpu.S.Ss.Selector);
        Assert.Equal((ulong)'c', mem.Span(info.BootParamsAddress + 0x1e4, 1)[0]);
        Assert.Equal(Magic, Read(mem.Span(Ram - 8, 8), 0, 8));
        Assert.Equal(Magic, cpu.Reg(Gpr.Rdi));
        Assert.Equal(0xe0000UL, cpu.Reg(Gpr.R8));
    }

    [Fact]
    public void InitialStateFollowsTheSixtyFourBitProtocol()
    {
        var info = LinuxBoot.Load(mem, new LinuxBootOptions { Kernel = BzImage([0xf4]) });
        info.Cpu.Apply(cpu);
        ref var s = ref cpu.S;
        Assert.Equal(0x100200UL, s.Rip);
        Assert.Equal(0x7000UL, cpu.Reg(Gpr.Rsi));
        Assert.Equal(0UL, cpu.Rflags & (1 << 9)); // IF clear
        Assert.Equal(0x10, s.Cs.Selector);
        Assert.Equal(0x18, s.Ds.Selector);
        Assert.Equal(0x18, s.Es.Selector);
        Assert.Equal(0x18, s.Ss.Selector);
        Assert.NotEqual(0, s.Cs.Attrs & CpuMode.AttrL); // 64-bit code segment
        Assert.Equal(0x80000000UL, s.Cr0 & 0x80000000); // PG
        Assert.Equal(1UL, s.Cr0 & 1); // PE
        Assert.Equal(0x20UL, s.Cr4 & 0x20); // PAE
        Assert.Equal(0x500UL, s.Efer & 0x500); // LME, LMA
        Assert.Equal(0x9000UL, s.Cr3);
        Assert.Equal(0x500UL, s.Gdtr.Base);
        Assert.Equal(31u, s.Gdtr.Limit);
        Assert.True(cpu.Mode.Is64);

        // The GDT in memory holds the descriptors the segment caches were loaded from.
        Assert.Equal(BootCpuState.CodeDescriptor, Read(mem.Span(0x510, 8), 0, 8));
        Assert.Equal(BootCpuState.DataDescriptor, Read(mem.Span(0x518, 8), 0, 8));
    }

    [Fact]
    public void PageTablesIdentityMapFourGiBWithTwoMiBPages()
    {
        BootCpuState.WritePageTables(mem, Ram);
        Assert.Equal(0xa003UL, Read(mem.Span(0x9000, 8), 0, 8)); // PML4[0] -> PDPT
        for (int g = 0; g < 4; g++)
        {
            Assert.Equal(0xb003UL + (ulong)g * 0x1000, Read(mem.Span(0xa000 + (ulong)g * 8, 8), 0, 8));
        }

        Assert.Equal(0UL, Read(mem.Span(0xa000 + 4 * 8, 8), 0, 8)); // nothing above 4 GiB with 64 MiB of RAM
        Assert.Equal(0x83UL, Read(mem.Span(0xb000, 8), 0, 8));
        Assert.Equal(0xfee00083UL, Read(mem.Span(0xb000 + (0xfee00000 >> 21) * 8, 8), 0, 8)); // the local APIC is mapped
    }

    [Fact]
    public void PageTablesMapRamAboveFourGiBWithOneGiBPages()
    {
        BootCpuState.WritePageTables(mem, E820.RamTop(6UL << 30)); // RAM up to 7 GiB
        Assert.Equal((4UL << 30) | 0x83, Read(mem.Span(0xa000 + 4 * 8, 8), 0, 8));
        Assert.Equal((6UL << 30) | 0x83, Read(mem.Span(0xa000 + 6 * 8, 8), 0, 8));
        Assert.Equal(0UL, Read(mem.Span(0xa000 + 7 * 8, 8), 0, 8));
    }

    [Fact]
    public void TinyBzImageKernelRunsOnTheRealCpu()
    {
        byte[] kernel = BzImage(TinyKernel(0x100200));
        var info = LinuxBoot.Load(mem, new LinuxBootOptions { Kernel = kernel, CommandLine = "console=ttyS0", AcpiRsdpAddress = 0xe0000 });
        info.Cpu.Apply(cpu);
        RunToHalt();
        CheckKernelRan(info);
    }

    [Fact]
    public void TinyElfKernelRunsOnTheRealCpu()
    {
        const ulong PBase = 0x100_0000;
        byte[] code = TinyKernel(PBase);
        byte[] elf = Elf(0xffff_ffff_8100_0000, [new ElfSegment(0xffff_ffff_8100_0000, PBase, code, 0x1000)]);
        var info = LinuxBoot.Load(mem, new LinuxBootOptions { Kernel = elf, CommandLine = "console=ttyS0", AcpiRsdpAddress = 0xe0000 });
        Assert.Equal(PBase, info.Cpu.Rip);
        info.Cpu.Apply(cpu);
        RunToHalt();
        CheckKernelRan(info);
    }
}

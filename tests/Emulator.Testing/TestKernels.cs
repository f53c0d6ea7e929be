using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.Testing;

/// <summary>How a test kernel resets the machine.</summary>
public enum ResetMechanism
{
    /// <summary>Command 0xFE to the 8042 at port 0x64: pulse the CPU reset line.</summary>
    KeyboardController,

    /// <summary>0x06 (SYS_RST | RST_CPU) to the reset control register at port 0xCF9, as Linux's reboot=pci.</summary>
    Port0xCf9,

    /// <summary>The FADT's RESET_VALUE to its RESET_REG (the test passes both).</summary>
    AcpiResetRegister,

    /// <summary>An empty IDT and INT3: #GP, then #DF, then shutdown (a triple fault).</summary>
    TripleFault,
}

/// <summary>The bare-metal kernels several test projects boot (built with <see cref="TestKernel"/>).</summary>
public static class TestKernels
{
    /// <summary>Prints "hello from a multiboot kernel" and exits through isa-debug-exit with <paramref name="value"/>.</summary>
    public static byte[] Hello(byte value, bool aout = false)
    {
        var k = new TestKernel();
        k.Print("hello from a multiboot kernel\n");
        k.Exit(value);
        return k.Build(aout);
    }

    /// <summary>
    /// Prints the fw_cfg signature, reads FW_CFG_NB_CPUS, copies a real-mode AP start-up routine
    /// (a locked increment of a counter) to 0x10000, and for every AP sends INIT then a start-up
    /// IPI with vector 0x10 through the local APIC's ICR; waits until every AP has counted, prints
    /// "cpus=N started=M" and exits with the CPU count as the value.
    /// </summary>
    public static byte[] Smp()
    {
        const uint Trampoline = 0x10000, Counter = Trampoline + 0x800;
        const uint Icr = 0xfee0_0300, IcrHigh = 0xfee0_0310, Svr = 0xfee0_00f0;
        var k = new TestKernel();
        var a = k.A;

        k.Print("fw_cfg signature ");
        a.mov(dx, 0x510);
        a.xor(eax, eax); // FW_CFG_SIGNATURE
        a.@out(dx, ax);
        a.mov(dx, 0x511);
        for (int i = 0; i < 4; i++)
        {
            a.@in(al, dx);
            k.PrintAl();
        }

        k.ReadFwCfgU16(0x0005); // FW_CFG_NB_CPUS
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
        a.shl(eax, 24); // destination: APIC ID = CPU index
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
        a.mov(eax, __dword_ptr[TestKernel.Scratch]);
        a.mov(dx, TestKernel.DebugExitPort);
        a.@out(dx, al);
        k.Halt();
        return k.Build();
    }

    /// <summary>The CMOS byte <see cref="BootCounter"/> counts boots in (battery-backed RAM, so it outlives a reset).</summary>
    public const byte CmosBootCount = 0x38;

    /// <summary>
    /// Counts its boots in a CMOS byte and prints "boot N"; on the first boot it resets the
    /// machine <paramref name="how"/>, on the second it exits through isa-debug-exit with 2
    /// (status 5). For <see cref="ResetMechanism.AcpiResetRegister"/> it writes
    /// <paramref name="acpiResetValue"/> to port <paramref name="acpiResetPort"/>.
    /// </summary>
    public static byte[] BootCounter(ResetMechanism how, ushort acpiResetPort = 0, byte acpiResetValue = 0)
    {
        var k = new TestKernel();
        var a = k.A;
        a.mov(al, CmosBootCount);
        a.@out(0x70, al);
        a.@in(al, 0x71);
        a.inc(al);
        a.mov(bl, al);
        a.mov(al, CmosBootCount);
        a.@out(0x70, al);
        a.mov(al, bl);
        a.@out(0x71, al);
        a.movzx(ebx, bl);
        a.mov(__dword_ptr[TestKernel.Scratch], ebx);
        k.Print("boot ");
        a.mov(edx, __dword_ptr[TestKernel.Scratch]);
        k.PrintDecimal(edx);
        k.Print("\n");

        var second = a.CreateLabel();
        a.cmp(__dword_ptr[TestKernel.Scratch], 1);
        a.jne(second);
        switch (how)
        {
            case ResetMechanism.KeyboardController:
                a.mov(al, 0xfe);
                a.@out(0x64, al);
                break;
            case ResetMechanism.Port0xCf9:
                a.mov(dx, 0xcf9);
                a.mov(al, 0x06);
                a.@out(dx, al);
                break;
            case ResetMechanism.AcpiResetRegister:
                a.mov(dx, acpiResetPort);
                a.mov(al, acpiResetValue);
                a.@out(dx, al);
                break;
            case ResetMechanism.TripleFault:
                a.lidt(__fword_ptr[TestKernel.Scratch + 0x100]); // zeros: an IDT of limit 0
                a.int3();
                break;
        }

        k.Halt();
        a.Label(ref second);
        a.mov(eax, __dword_ptr[TestKernel.Scratch]);
        a.mov(dx, TestKernel.DebugExitPort);
        a.@out(dx, al);
        k.Halt();
        return k.Build();
    }
}

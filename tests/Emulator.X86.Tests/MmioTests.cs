using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class MmioTests
{
    private sealed class Register32Bus : IMmioBus
    {
        public const ulong Base = 0xfee0_0000;

        public uint Value = 0x1234_5678;

        public List<(ulong, int, ulong)> Writes { get; } = [];

        public bool TryRead(ulong physical, int size, out ulong value)
        {
            value = physical == Base ? Value : 0;
            return physical >= Base && physical < Base + 0x1000;
        }

        public bool TryWrite(ulong physical, int size, ulong value)
        {
            Writes.Add((physical, size, value));
            return physical >= Base && physical < Base + 0x1000;
        }
    }

    [Fact]
    public void AccessesOutsideRamGoToTheMmioBusEveryTime()
    {
        using var m = new TestMachine();
        var bus = new Register32Bus();
        m.Cpu.Mmio = bus;
        m.Load(a =>
        {
            a.mov(rdi, Register32Bus.Base);
            a.mov(eax, __dword_ptr[rdi]);
            a.mov(__dword_ptr[rdi + 0xb0], 0);
            a.mov(__dword_ptr[rdi + 0xb0], 0); // a second write must not be absorbed by a TLB entry
            a.mov(ebx, __dword_ptr[0x2000_0000]); // nothing there: reads as all ones
        }).Run();
        Assert.Equal(0x1234_5678UL, m[Gpr.Rax]);
        Assert.Equal(2, bus.Writes.Count);
        Assert.Equal((Register32Bus.Base + 0xb0, 4, 0UL), bus.Writes[0]);
        Assert.Equal(0xffff_ffffUL, m[Gpr.Rbx]);
        Assert.Equal(1, m.Cpu.UnassignedAccesses);
    }
}

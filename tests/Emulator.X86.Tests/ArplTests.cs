using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>ARPL r/m16, r16 (opcode 63 outside 64-bit mode, SDM Vol. 2A ARPL): raises the RPL of the destination selector to the source's.</summary>
public class ArplTests
{
    /// <summary>
    /// 32-bit code writes ARPL without an operand-size prefix (63 /r, Iced's Arpl_r32m16_r32):
    /// with a register destination the RPL bits of the 32-bit register change and the rest is
    /// kept, as on the host. The translator used to throw on this form (an IR type mismatch).
    /// Found by the host differential's alu32 group.
    /// </summary>
    [Fact]
    public void ArplWithoutOperandSizePrefixIn32BitCode()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0xabcd_0010);
            a.mov(ecx, 0x1234_0003);
            a.db(0x63, 0xc8); // arpl eax, ecx
            a.setz(bl);
        }).Run();
        Assert.Equal(0xabcd_0013UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rbx] & 0xff);
    }

    [Fact]
    public void ArplRaisesRplAndSetsZf()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0xffff_0010);
            a.mov(ecx, 0x0003);
            a.arpl(ax, cx);
            a.setz(bl);
        }).Run();
        Assert.Equal(0xffff_0013UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rbx] & 0xff);
    }

    [Fact]
    public void ArplWithRplAlreadyHighEnoughClearsZfAndWritesNothing()
    {
        using var m = new TestMachine(32);
        m.WriteMem(TestMachine.DataAddress, 0x0023, 2);
        m.Load(a =>
        {
            a.mov(ecx, 0x0001);
            a.mov(ebx, (uint)TestMachine.DataAddress);
            a.arpl(__word_ptr[ebx], cx);
            a.setz(dl);
        }).Run();
        Assert.Equal(0x23UL, m.ReadMem(TestMachine.DataAddress, 2));
        Assert.Equal(0UL, m[Gpr.Rdx] & 0xff);
    }

    [Fact]
    public void ArplToMemoryRaisesRpl()
    {
        using var m = new TestMachine(32);
        m.WriteMem(TestMachine.DataAddress, 0x0020, 2);
        m.Load(a =>
        {
            a.mov(ecx, 0x0002);
            a.mov(ebx, (uint)TestMachine.DataAddress);
            a.arpl(__word_ptr[ebx], cx);
        }).Run();
        Assert.Equal(0x22UL, m.ReadMem(TestMachine.DataAddress, 2));
        Assert.True(m.Flag(RFlags.ZF));
    }
}

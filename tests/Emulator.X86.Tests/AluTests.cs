using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class AluTests
{
    [Fact]
    public void Add64SetsCarryAndZero()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, ulong.MaxValue);
            a.add(rax, 1);
        }).Run();
        Assert.Equal(0UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.OF));
        Assert.True(m.Flag(RFlags.AF));
        Assert.True(m.Flag(RFlags.PF));
    }

    [Fact]
    public void Sub32OverflowAndZeroExtension()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xffff_ffff_8000_0000);
            a.sub(eax, 1);
        }).Run();
        Assert.Equal(0x7fff_ffffUL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.OF));
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.SF));
    }

    [Fact]
    public void EightBitHighRegistersMerge()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rbx, 0x1122_3344_5566_7788);
            a.add(bh, 0x11);
            a.xor(bl, 0xff);
        }).Run();
        Assert.Equal(0x1122_3344_5566_8877UL, m[Gpr.Rbx]);
    }

    [Fact]
    public void AdcChainsCarryAcrossWords()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, ulong.MaxValue);
            a.mov(rdx, 5);
            a.add(rax, 1);
            a.adc(rdx, 0);
            a.sbb(rcx, rcx);
        }).Run();
        Assert.Equal(0UL, m[Gpr.Rax]);
        Assert.Equal(6UL, m[Gpr.Rdx]);
        Assert.Equal(0UL, m[Gpr.Rcx]);
    }

    [Fact]
    public void IncKeepsCarry()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.stc();
            a.mov(eax, 0x7fffffff);
            a.inc(eax);
        });
        m.Run();
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.OF));
    }

    [Fact]
    public void MemoryOperandsInSixteenBitCode()
    {
        using var m = new TestMachine(16);
        m.WriteMem(TestMachine.DataAddress & 0xffff, 0x1234, 2);
        m.Load(a =>
        {
            a.mov(bx, (ushort)(TestMachine.DataAddress & 0xffff));
            a.add(__word_ptr[bx], 0x0101);
            a.mov(ax, __word_ptr[bx]);
            a.neg(ax);
        }, 0x1000).Run();
        Assert.Equal(0x1335UL, m.ReadMem(TestMachine.DataAddress & 0xffff, 2));
        Assert.Equal(0x10000UL - 0x1335, m[Gpr.Rax] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
    }
}

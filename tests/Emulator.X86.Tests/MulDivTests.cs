using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class MulDivTests
{
    [Fact]
    public void Mul8WritesAxAndSetsCarry()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, 0x1280);
            a.mov(bl, 2);
            a.mul(bl);
        }, 0x1000).Run();
        Assert.Equal(0x0100UL, m[Gpr.Rax] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.OF));
    }

    [Fact]
    public void Mul16WritesDxAx()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, 0xFFFF);
            a.mov(bx, 0xFFFF);
            a.mul(bx);
        }, 0x1000).Run();
        Assert.Equal(0x0001UL, m[Gpr.Rax] & 0xffff);
        Assert.Equal(0xFFFEUL, m[Gpr.Rdx] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void Mul32ZeroExtendsAndClearsCarry()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xFFFF_FFFF_0000_0003);
            a.mov(rdx, 0xFFFF_FFFF_FFFF_FFFF);
            a.mov(ebx, 5);
            a.mul(ebx);
        }).Run();
        Assert.Equal(15UL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.Rdx]);
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void Mul64HighHalf()
    {
        using var m = new TestMachine();
        m.WriteMem(TestMachine.DataAddress, 2, 8);
        m.Load(a =>
        {
            a.mov(rax, ulong.MaxValue);
            a.mov(rbx, TestMachine.DataAddress);
            a.mul(__qword_ptr[rbx]);
        }).Run();
        Assert.Equal(0xFFFF_FFFF_FFFF_FFFEUL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rdx]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.OF));
    }

    [Fact]
    public void ImulOneOperandSignedOverflow()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0xFE); // -2
            a.mov(bl, 3);
            a.imul(bl);
            a.setc(cl);
            a.mov(edx, eax);
            a.mov(eax, 0x40);
            a.mov(bl, 2);
            a.imul(bl); // 128 does not fit in AL as a signed byte
        }).Run();
        Assert.Equal(0xFFFAUL, m[Gpr.Rdx] & 0xffff);
        Assert.Equal(0UL, m[Gpr.Rcx] & 0xff);
        Assert.Equal(0x0080UL, m[Gpr.Rax] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.OF));
    }

    [Fact]
    public void Imul64OneOperandSignExtendsIntoRdx()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, unchecked((ulong)-3L));
            a.mov(rbx, 4);
            a.imul(rbx);
        }).Run();
        Assert.Equal(unchecked((ulong)-12L), m[Gpr.Rax]);
        Assert.Equal(ulong.MaxValue, m[Gpr.Rdx]);
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void ImulTwoAndThreeOperands()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x10000);
            a.mov(ebx, 0x10000);
            a.imul(eax, ebx); // truncated to 0
            a.seto(sil);
            a.mov(rdx, unchecked((ulong)-7L));
            a.imul(rcx, rdx, 10);
        }).Run();
        Assert.Equal(0UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rsi] & 0xff);
        Assert.Equal(unchecked((ulong)-70L), m[Gpr.Rcx]);
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void Imul16ThreeOperandsFitsExactly()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(di, 0x4000);
            a.imul(si, di, -2);
        }, 0x1000).Run();
        Assert.Equal(0x8000UL, m[Gpr.Rsi] & 0xffff);
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void Div8QuotientInAlRemainderInAh()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 1000);
            a.mov(bl, 7);
            a.div(bl);
        }).Run();
        Assert.Equal(0x068EUL, m[Gpr.Rax]); // 142 remainder 6
    }

    [Fact]
    public void Div16UsesDxAx()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(dx, 1);
            a.mov(ax, 0);
            a.mov(bx, 3);
            a.div(bx);
        }, 0x1000).Run();
        Assert.Equal(0x5555UL, m[Gpr.Rax] & 0xffff);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xffff);
    }

    [Fact]
    public void Div32ZeroExtendsResults()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0xFFFF_FFFF_0000_0000);
            a.mov(rdx, 0xFFFF_FFFF_0000_0001);
            a.mov(ebx, 2);
            a.div(ebx);
        }).Run();
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.Rdx]);
    }

    [Fact]
    public void Div64DividesRdxRax()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(edx, 1);
            a.xor(eax, eax);
            a.mov(ebx, 3);
            a.div(rbx);
        }).Run();
        Assert.Equal(0x5555_5555_5555_5555UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rdx]);
    }

    [Fact]
    public void IdivRoundsTowardZero()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, -7);
            a.cdq();
            a.mov(ebx, 2);
            a.idiv(ebx);
        }).Run();
        Assert.Equal(unchecked((uint)-3), (uint)m[Gpr.Rax]);
        Assert.Equal(unchecked((uint)-1), (uint)m[Gpr.Rdx]);
    }

    [Fact]
    public void Idiv64AndIdiv8()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, unchecked((ulong)-100L));
            a.cqo();
            a.mov(rbx, 7);
            a.idiv(rbx);
            a.mov(rsi, rax);
            a.mov(ecx, 0xFF9C); // AX = -100
            a.mov(eax, ecx);
            a.mov(bl, 0xF9); // -7
            a.idiv(bl);
        }).Run();
        Assert.Equal(unchecked((ulong)-14L), m[Gpr.Rsi]);
        Assert.Equal(unchecked((ulong)-2L), m[Gpr.Rdx]);
        Assert.Equal(0xFE0EUL, m[Gpr.Rax] & 0xffff); // quotient 14, remainder -2
    }

    [Theory]
    [InlineData(64, 0UL, 5UL, 0UL)] // divide by zero
    [InlineData(64, 5UL, 0UL, 5UL)] // quotient needs 65 bits
    [InlineData(32, 2UL, 0UL, 2UL)]
    public void DivideErrorLeavesStateAndPointsAtDiv(int bits, ulong rdx, ulong rax, ulong divisor)
    {
        using var m = new TestMachine(bits);
        m[Gpr.Rax] = rax;
        m[Gpr.Rdx] = rdx;
        m[Gpr.Rbx] = divisor;
        m.Load(a =>
        {
            if (bits == 64)
            {
                a.div(rbx);
            }
            else
            {
                a.div(ebx);
            }
        });
        Assert.Equal(0, m.RunToException());
        Assert.Equal(TestMachine.CodeAddress, m.Cpu.S.Rip);
        Assert.Equal(rax, m[Gpr.Rax]);
        Assert.Equal(rdx, m[Gpr.Rdx]);
    }

    [Fact]
    public void Div16OverflowRaisesDivideError()
    {
        using var m = new TestMachine(16);
        m[Gpr.Rdx] = 5;
        m[Gpr.Rbx] = 5;
        m.Load(a => a.div(bx), 0x1000);
        Assert.Equal(0, m.RunToException());
    }

    [Fact]
    public void IdivOfMostNegativeByMinusOneRaisesDivideError()
    {
        using var m = new TestMachine();
        m[Gpr.Rax] = 0x8000_0000_0000_0000;
        m[Gpr.Rdx] = ulong.MaxValue;
        m[Gpr.Rbx] = ulong.MaxValue;
        m.Load(a => a.idiv(rbx));
        Assert.Equal(0, m.RunToException());
        Assert.Equal(0x8000_0000_0000_0000UL, m[Gpr.Rax]);

        using var m8 = new TestMachine(32);
        m8[Gpr.Rax] = 0xFF80; // -128
        m8[Gpr.Rbx] = 0xFF;
        m8.Load(a => a.idiv(bl));
        Assert.Equal(0, m8.RunToException());

        using var m32 = new TestMachine(32);
        m32[Gpr.Rax] = 0x8000_0000;
        m32[Gpr.Rdx] = 0xFFFF_FFFF;
        m32[Gpr.Rbx] = 0xFFFF_FFFF;
        m32.Load(a => a.idiv(ebx));
        Assert.Equal(0, m32.RunToException());
    }

    [Fact]
    public void MulxLeavesFlags()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.stc();
            a.mov(rdx, ulong.MaxValue);
            a.mov(esi, 2);
            a.mulx(rbx, rcx, rsi);
        }).Run();
        Assert.Equal(1UL, m[Gpr.Rbx]);
        Assert.Equal(0xFFFF_FFFF_FFFF_FFFEUL, m[Gpr.Rcx]);
        Assert.True(m.Flag(RFlags.CF));
    }
}

using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class ShiftTests
{
    [Fact]
    public void ShlByOneSetsCarryAndOverflow()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0x8000_0001);
            a.shl(eax, 1);
        }).Run();
        Assert.Equal(2UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.OF)); // MSB of result (0) xor CF (1)
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void Shr64ByOneOverflowIsOriginalSign()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x8000_0000_0000_0003);
            a.shr(rax, 1);
        }).Run();
        Assert.Equal(0x4000_0000_0000_0001UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.OF));
        Assert.False(m.Flag(RFlags.SF));
    }

    [Fact]
    public void Sar16KeepsSign()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, 0x8001);
            a.sar(ax, 1);
        }, 0x1000).Run();
        Assert.Equal(0xC000UL, m[Gpr.Rax] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
        Assert.True(m.Flag(RFlags.SF));
    }

    [Fact]
    public void Sar8ByLargeCountFillsWithSign()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0x1180);
            a.mov(cl, 12);
            a.sar(al, cl);
        }).Run();
        Assert.Equal(0x11FFUL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.SF));
    }

    [Fact]
    public void CountIsMaskedToFiveOrSixBits()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 1);
            a.mov(ecx, 33);
            a.shl(eax, cl); // 33 & 31 = 1
            a.mov(edx, 1);
            a.mov(ecx, 65);
            a.shl(rdx, cl); // 65 & 63 = 1
            a.mov(ebx, 1);
            a.mov(ecx, 9);
            a.shl(bl, cl); // 9 is not masked for 8-bit operands: all bits shift out
        }).Run();
        Assert.Equal(2UL, m[Gpr.Rax]);
        Assert.Equal(2UL, m[Gpr.Rdx]);
        Assert.Equal(0UL, m[Gpr.Rbx]);
        Assert.True(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void ZeroCountKeepsFlagsButZeroExtends()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 5);
            a.cmp(eax, 5); // ZF = 1, CF = 0
            a.mov(rbx, 0xFFFF_FFFF_0000_0010);
            a.xor(ecx, ecx);
            a.shl(ebx, cl);
            a.mov(rdx, 0xFFFF_FFFF_0000_0020);
            a.mov(ecx, 32); // masked to 0
            a.shr(edx, cl);
            a.mov(rsi, 0xFFFF_FFFF_0000_0030);
            a.sar(esi, 0);
        }).Run();
        Assert.Equal(0x10UL, m[Gpr.Rbx]);
        Assert.Equal(0x20UL, m[Gpr.Rdx]);
        Assert.Equal(0x30UL, m[Gpr.Rsi]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void ZeroCountKeepsMaterializedCarry()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.stc();
            a.mov(ecx, 0x20);
            a.mov(ebx, 0x40);
            a.shr(ebx, cl);
            a.setc(dl);
        }).Run();
        Assert.Equal(0x40UL, m[Gpr.Rbx]);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void ZeroCountKeepsFlagsFromAnEarlierBlock()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var next = a.CreateLabel();
            a.xor(ecx, ecx);
            a.mov(eax, 3);
            a.cmp(eax, 5); // CF = 1, SF = 1, ZF = 0
            a.jmp(next);
            a.Label(ref next);
            a.sar(eax, cl);
            a.rcl(eax, cl);
        }).Run();
        Assert.Equal(3UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.SF));
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void VariableCountSetsCarryFromLastBitOut()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x18);
            a.mov(ecx, 4);
            a.shr(eax, cl); // bit 3 of 0x18 shifted out last
            a.setc(dl);
            a.mov(ebx, 0x18);
            a.mov(ecx, 5);
            a.shr(ebx, cl);
        }).Run();
        Assert.Equal(1UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff);
        Assert.Equal(0UL, m[Gpr.Rbx]);
        Assert.True(m.Flag(RFlags.CF)); // bit 4 of 0x18
        Assert.True(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void ShiftMemoryOperand()
    {
        using var m = new TestMachine(32);
        m.WriteMem(TestMachine.DataAddress, 0x1000_0001, 4);
        m.Load(a =>
        {
            a.mov(ebx, (uint)TestMachine.DataAddress);
            a.shl(__dword_ptr[ebx], 4);
        }).Run();
        Assert.Equal(0x0000_0010UL, m.ReadMem(TestMachine.DataAddress, 4));
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void RolAndRorSetCarryAndOverflow()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x81);
            a.rol(al, 1);
            a.setc(dl);
            a.seto(dh);
            a.mov(ebx, 0x1234_5678);
            a.ror(ebx, 4);
        }).Run();
        Assert.Equal(0x03UL, m[Gpr.Rax]);
        Assert.Equal(0x0101UL, m[Gpr.Rdx] & 0xffff);
        Assert.Equal(0x8123_4567UL, m[Gpr.Rbx]);
        Assert.True(m.Flag(RFlags.CF)); // MSB of the result
        Assert.True(m.Flag(RFlags.OF)); // bit 31 xor bit 30
    }

    [Fact]
    public void RotateKeepsOtherFlags()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.xor(eax, eax); // ZF = 1, PF = 1
            a.mov(ebx, 0x80);
            a.rol(bl, 1);
        }).Run();
        Assert.Equal(1UL, m[Gpr.Rbx]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.True(m.Flag(RFlags.PF));
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void RolByWholeTurnStillSetsFlags()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.clc();
            a.mov(eax, 0x81);
            a.mov(ecx, 8);
            a.rol(al, cl);
        }).Run();
        Assert.Equal(0x81UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.CF)); // LSB of the result
        Assert.False(m.Flag(RFlags.OF)); // MSB (1) xor CF (1)
    }

    [Fact]
    public void Rotate16ByVariableCountAndZeroCount()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, 0x1234);
            a.mov(cl, 0x14); // 20: rotate by 4
            a.rol(ax, cl);
            a.stc();
            a.mov(bx, 0x5678);
            a.mov(cl, 0x20); // masked to 0
            a.ror(bx, cl);
        }, 0x1000).Run();
        Assert.Equal(0x2341UL, m[Gpr.Rax] & 0xffff);
        Assert.Equal(0x5678UL, m[Gpr.Rbx] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void RclAndRcrByOne()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.stc();
            a.mov(eax, 0x80);
            a.rcl(al, 1);
            a.setc(dl);
            a.seto(dh);
            a.clc();
            a.mov(ebx, 0x01);
            a.rcr(bl, 1);
        }).Run();
        Assert.Equal(0x01UL, m[Gpr.Rax]);
        Assert.Equal(0x0101UL, m[Gpr.Rdx] & 0xffff);
        Assert.Equal(0UL, m[Gpr.Rbx]);
        Assert.True(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void Rcl8CountIsModuloNine()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.stc();
            a.mov(eax, 0x55);
            a.mov(ecx, 9);
            a.rcl(al, cl); // 9 mod 9 = 0: nothing changes
            a.setc(dl);
            a.stc();
            a.mov(ebx, 0);
            a.mov(ecx, 28); // 28 mod 9 = 1
            a.rcl(bl, cl);
        }).Run();
        Assert.Equal(0x55UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff);
        Assert.Equal(1UL, m[Gpr.Rbx]);
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void Rcr16CountIsModuloSeventeen()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.clc();
            a.mov(ax, 0x0003);
            a.mov(cl, 18); // 18 mod 17 = 1
            a.rcr(ax, cl);
        }, 0x1000).Run();
        Assert.Equal(0x0001UL, m[Gpr.Rax] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void Rcl32AndRcr64ByLargeCounts()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.clc();
            a.mov(eax, 1);
            a.rcl(eax, 31);
            a.setc(dl);
            a.stc();
            a.mov(rbx, 0x8000_0000_0000_0000);
            a.mov(ecx, 63);
            a.rcr(rbx, cl);
        }).Run();
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.Rdx] & 0xff);
        Assert.Equal(3UL, m[Gpr.Rbx]);
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void ShldAndShrd32()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0x1234_5678);
            a.mov(ebx, 0x9ABC_DEF0);
            a.shld(eax, ebx, 4);
            a.setc(dl);
            a.mov(esi, 0x1234_5678);
            a.mov(ecx, 8);
            a.shrd(esi, ebx, cl);
        }).Run();
        Assert.Equal(0x2345_6789UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff); // bit 28 of 0x12345678
        Assert.Equal(0xF012_3456UL, m[Gpr.Rsi]);
        Assert.False(m.Flag(RFlags.CF)); // bit 7 of 0x78
        Assert.True(m.Flag(RFlags.SF));
    }

    [Fact]
    public void Shrd16AndShld64()
    {
        using var m16 = new TestMachine(16);
        m16.Load(a =>
        {
            a.mov(ax, 0x1234);
            a.mov(bx, 0xABCD);
            a.shrd(ax, bx, 4);
        }, 0x1000).Run();
        Assert.Equal(0xD123UL, m16[Gpr.Rax] & 0xffff);
        Assert.False(m16.Flag(RFlags.CF));

        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x4000_0000_0000_0000);
            a.mov(rbx, 0x8000_0000_0000_0000);
            a.shld(rax, rbx, 1);
            a.seto(dl);
            a.xor(ecx, ecx);
            a.stc();
            a.mov(rsi, 0x1111);
            a.shld(rsi, rbx, cl);
        }).Run();
        Assert.Equal(0x8000_0000_0000_0001UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff);
        Assert.Equal(0x1111UL, m[Gpr.Rsi]);
        Assert.True(m.Flag(RFlags.CF));
    }

    [Fact]
    public void Bmi2ShiftsLeaveFlags()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.stc();
            a.mov(ebx, 3);
            a.mov(ecx, 33);
            a.shlx(eax, ebx, ecx);
            a.mov(rdx, 0x8000_0000_0000_0000);
            a.mov(ecx, 60);
            a.sarx(rsi, rdx, rcx);
            a.shrx(rdi, rdx, rcx);
            a.mov(ebx, 0x1234_5678);
            a.rorx(r8d, ebx, 8);
        }).Run();
        Assert.Equal(6UL, m[Gpr.Rax]);
        Assert.Equal(0xFFFF_FFFF_FFFF_FFF8UL, m[Gpr.Rsi]);
        Assert.Equal(8UL, m[Gpr.Rdi]);
        Assert.Equal(0x7812_3456UL, m[Gpr.R8]);
        Assert.True(m.Flag(RFlags.CF));
    }
}

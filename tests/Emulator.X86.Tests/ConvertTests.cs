using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class ConvertTests
{
    private const ulong Data = TestMachine.DataAddress;

    [Fact]
    public void SignExtendAccumulator()
    {
        using var m16 = new TestMachine(16);
        m16.Load(a =>
        {
            a.mov(ax, 0x1280);
            a.cbw();
            a.mov(bx, ax);
            a.mov(ax, 0x8000);
            a.cwd();
        }, 0x1000).Run();
        Assert.Equal(0xFF80UL, m16[Gpr.Rbx] & 0xffff);
        Assert.Equal(0xFFFFUL, m16[Gpr.Rdx] & 0xffff);

        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x1111_1111_1111_1180);
            a.cbw(); // keeps bits 16-63
            a.mov(rbx, rax);
            a.mov(rax, 0x1111_1111_0000_8000);
            a.cwde(); // zero-extends the 32-bit result
            a.mov(rcx, rax);
            a.mov(eax, 0x8000_0000);
            a.cdqe();
            a.cqo();
            a.mov(rsi, rdx);
            a.mov(rdx, ulong.MaxValue);
            a.mov(eax, 0x7FFF_FFFF);
            a.cdq();
        }).Run();
        Assert.Equal(0x1111_1111_1111_FF80UL, m[Gpr.Rbx]);
        Assert.Equal(0xFFFF_8000UL, m[Gpr.Rcx]);
        Assert.Equal(ulong.MaxValue, m[Gpr.Rsi]);
        Assert.Equal(0x7FFF_FFFFUL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.Rdx]);
    }

    [Fact]
    public void Cdqe()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x1234_5678_8000_0000);
            a.cdqe();
        }).Run();
        Assert.Equal(0xFFFF_FFFF_8000_0000UL, m[Gpr.Rax]);
    }

    [Fact]
    public void LahfStoresFlagsInAh()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0x1234_0000);
            a.cmp(al, 1); // 0 - 1 = 0xFF: CF, SF, AF, PF set; ZF clear
            a.lahf();
        }).Run();
        Assert.Equal(0x1234_9700UL, m[Gpr.Rax]);
    }

    [Fact]
    public void SahfLoadsFlagsAndKeepsOverflow()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(al, 0x7F);
            a.add(al, 1); // OF = 1
            a.mov(ah, 0xD5);
            a.sahf();
        }).Run();
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.PF));
        Assert.True(m.Flag(RFlags.AF));
        Assert.True(m.Flag(RFlags.ZF));
        Assert.True(m.Flag(RFlags.SF));
        Assert.True(m.Flag(RFlags.OF));

        using var m2 = new TestMachine(32);
        m2.Load(a =>
        {
            a.stc();
            a.mov(ah, 0x02);
            a.sahf();
        }).Run();
        Assert.Equal(0UL, m2.Rflags & (ulong)RFlags.Arith);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(64)]
    public void XlatLooksUpTable(int bits)
    {
        using var m = new TestMachine(bits);
        ulong table = bits == 16 ? 0x3000 : Data;
        for (ulong i = 0; i < 256; i++)
        {
            m.WriteMem(table + i, 255 - i, 1);
        }

        m[Gpr.Rbx] = table;
        m[Gpr.Rax] = 0x1234_0005;
        m.Load(a => a.xlatb(), bits == 16 ? 0x1000 : TestMachine.CodeAddress).Run();
        Assert.Equal(0x1234_00FAUL, m[Gpr.Rax]);
    }

    [Fact]
    public void DaaAndDasAdjustPackedBcd()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(al, 0x79);
            a.add(al, 0x35);
            a.daa(); // 79 + 35 = 114
            a.setc(bl);
            a.mov(cl, al);
            a.mov(al, 0x35);
            a.sub(al, 0x47);
            a.das(); // 35 - 47 = -12: 88 with a borrow
        }).Run();
        Assert.Equal(0x14UL, m[Gpr.Rcx] & 0xff);
        Assert.Equal(1UL, m[Gpr.Rbx] & 0xff);
        Assert.Equal(0x88UL, m[Gpr.Rax] & 0xff);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.AF));
        Assert.True(m.Flag(RFlags.SF));
    }

    [Fact]
    public void DaaWithoutAdjustment()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(al, 0x12);
            a.add(al, 0x34);
            a.daa();
        }, 0x1000).Run();
        Assert.Equal(0x46UL, m[Gpr.Rax] & 0xff);
        Assert.False(m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.AF));
        Assert.False(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void AaaAndAasAdjustUnpackedBcd()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, 0x0009);
            a.add(al, 8);
            a.aaa(); // 9 + 8 = 17
            a.mov(bx, ax);
            a.mov(ax, 0x0102);
            a.sub(al, 5);
            a.aas(); // 12 - 5 = 7
        }, 0x1000).Run();
        Assert.Equal(0x0107UL, m[Gpr.Rbx] & 0xffff);
        Assert.Equal(0x0007UL, m[Gpr.Rax] & 0xffff);
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.AF));
    }

    [Fact]
    public void AamAndAad()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(eax, 0x3F);
            a.aam(10); // 63 -> 06 03
            a.mov(ebx, eax);
            a.mov(eax, 0x3F);
            a.aam(16); // 03 0F
            a.mov(ecx, eax);
            a.mov(eax, 0x0603);
            a.aad(10); // 63
            a.mov(edx, eax);
            a.mov(eax, 0x0300);
            a.aad(16); // 0x30
        }).Run();
        Assert.Equal(0x0603UL, m[Gpr.Rbx]);
        Assert.Equal(0x030FUL, m[Gpr.Rcx]);
        Assert.Equal(0x3FUL, m[Gpr.Rdx]);
        Assert.Equal(0x30UL, m[Gpr.Rax]);
        Assert.False(m.Flag(RFlags.ZF));
        Assert.True(m.Flag(RFlags.PF)); // 0x30 has two bits set
    }

    [Fact]
    public void AadSetsZero()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, 0x1A04); // 26 * 10 + 4 = 264 = 0x108
            a.aad(10);
            a.mov(bx, ax);
            a.mov(ax, 0x0000);
            a.aad(10);
        }, 0x1000).Run();
        Assert.Equal(0x0008UL, m[Gpr.Rbx] & 0xffff);
        Assert.True(m.Flag(RFlags.ZF));
    }

    [Fact]
    public void AamByZeroRaisesDivideError()
    {
        using var m = new TestMachine(32);
        m.Load(a => a.aam(0));
        Assert.Equal(0, m.RunToException());
        Assert.Equal(TestMachine.CodeAddress, m.Cpu.S.Rip);
    }

    [Fact]
    public void BcdIsInvalidIn64BitMode()
    {
        using var m = new TestMachine();
        m.LoadBytes([0x27, 0xF4], TestMachine.CodeAddress); // daa; hlt
        m.Cpu.S.Rip = TestMachine.CodeAddress;
        Assert.Equal(6, m.RunToException());
    }

    [Fact]
    public void SalcSetsAlFromCarry()
    {
        using var m = new TestMachine(32);
        m.LoadBytes([0xF9, 0xD6, 0x88, 0xC3, 0xF8, 0xD6, 0xF4], TestMachine.CodeAddress); // stc; salc; mov bl, al; clc; salc; hlt
        m.Cpu.S.Rip = TestMachine.CodeAddress;
        m[Gpr.Rax] = 0x1234_5655;
        m.Run();
        Assert.Equal(0xFFUL, m[Gpr.Rbx] & 0xff);
        Assert.Equal(0x1234_5600UL, m[Gpr.Rax]);
    }
}

using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// MMX instructions and the MMX/x87 aliasing rules (SDM Vol. 1 9.5). Expected values are worked
/// out by hand from the SDM's "Operation" sections.
/// </summary>
public class MmxTests
{
    private const ulong Data = TestMachine.DataAddress;

    /// <summary>Runs <paramref name="op"/> on mm0 = <paramref name="d"/>, mm1 = <paramref name="s"/> in 64-bit code; returns mm0.</summary>
    private static ulong Binary(Action<Assembler> op, ulong d, ulong s)
    {
        using var m = new TestMachine();
        m.SetMm(0, d);
        m.SetMm(1, s);
        m.Load(op).Run();
        return m.Mm(0);
    }

    [Fact]
    public void PshufbOnMmRegistersUsesThreeSelectorBitsAndZeroesWhereTheTopBitIsSet()
    {
        // Selectors, byte 0 first: 0x80 (zero), 0x0f and 0x09 (bits 3 and up ignored: 7 and 1), 0, 3, 0x8a (zero), 7, 6.
        Assert.Equal(0x0607_0003_0001_0700UL, Binary(a => a.pshufb(mm0, mm1), 0x0706_0504_0302_0100, 0x0607_8a03_0009_0f80));
    }

    [Fact]
    public void MmxInstructionResetsTopAndTagsAndMarksTheWrittenRegister()
    {
        using var m = new TestMachine();
        m.SetMm(0, 0x7fff_0001_ffff_8000);
        m.SetMm(1, 0x0001_0001_0001_8000);
        m.Cpu.S.Fsw = 5 << 11 | 0x0001;
        m.Cpu.S.Ftw = 0xffff;
        m.Fpr(1).SignExponent = 0x1234;
        m.Load(a => a.paddw(mm0, mm1)).Run();
        Assert.Equal(0x8000_0002_0000_0000UL, m.Mm(0));
        Assert.Equal(0x0001, m.Cpu.S.Fsw);
        Assert.Equal(0, m.Cpu.S.Ftw);
        Assert.Equal(0xffff, m.Fpr(0).SignExponent);
        Assert.Equal(0x1234, m.Fpr(1).SignExponent);
    }

    [Fact]
    public void EmmsEmptiesTheTagWord()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.pxor(mm2, mm2);
            a.emms();
        }).Run();
        Assert.Equal(0xffff, m.Cpu.S.Ftw);
        Assert.Equal(0xffff, m.Fpr(2).SignExponent);
        Assert.Equal(0UL, m.Mm(2));
    }

    [Fact]
    public void ReadingAnMmRegisterIsAnMmxInstructionToo()
    {
        using var m = new TestMachine();
        m.Cpu.S.Fsw = 3 << 11;
        m.SetMm(4, 0x1122_3344_5566_7788);
        m.Load(a => a.movd(eax, mm4)).Run();
        Assert.Equal(0x5566_7788UL, m[Gpr.Rax]);
        Assert.Equal(0, m.Cpu.S.Fsw);
        Assert.Equal(0, m.Cpu.S.Ftw);
        Assert.Equal(0, m.Fpr(4).SignExponent);
    }

    [Fact]
    public void MovdMovqForms()
    {
        using var m = new TestMachine();
        m.SetMm(0, ulong.MaxValue);
        m.SetMm(2, 0x1122_3344_5566_7788);
        m.WriteMem(Data, 0x0102_0304_0506_0708, 8);
        m.Load(a =>
        {
            a.mov(rax, 0x8765_4321_89ab_cdef);
            a.mov(rbx, Data);
            a.mov(rcx, -1L);
            a.movd(mm0, eax);
            a.movq(mm1, rax);
            a.movd(ecx, mm2);
            a.movq(rdx, mm2);
            a.movq(mm3, __qword_ptr[rbx]);
            a.movq(__qword_ptr[rbx + 8], mm2);
            a.movd(__dword_ptr[rbx + 16], mm1);
            a.movq(mm4, mm2);
            a.movntq(__qword_ptr[rbx + 24], mm3);
            a.movd(mm5, __dword_ptr[rbx]);
        }).Run();
        Assert.Equal(0x89ab_cdefUL, m.Mm(0));
        Assert.Equal(0x8765_4321_89ab_cdefUL, m.Mm(1));
        Assert.Equal(0x5566_7788UL, m[Gpr.Rcx]);
        Assert.Equal(0x1122_3344_5566_7788UL, m[Gpr.Rdx]);
        Assert.Equal(0x0102_0304_0506_0708UL, m.Mm(3));
        Assert.Equal(0x1122_3344_5566_7788UL, m.ReadMem(Data + 8, 8));
        Assert.Equal(0x89ab_cdefUL, m.ReadMem(Data + 16, 8));
        Assert.Equal(0x1122_3344_5566_7788UL, m.Mm(4));
        Assert.Equal(0x0102_0304_0506_0708UL, m.ReadMem(Data + 24, 8));
        Assert.Equal(0x0506_0708UL, m.Mm(5));
        foreach (int r in new[] { 0, 1, 3, 4, 5 })
        {
            Assert.Equal(0xffff, m.Fpr(r).SignExponent);
        }
    }

    [Fact]
    public void MovesBetweenMmAndXmm()
    {
        using var m = new TestMachine();
        m.SetMm(1, 0x1111_2222_3333_4444);
        m.SetXmm(0, ulong.MaxValue, ulong.MaxValue);
        m.SetXmm(3, 0x5555_6666_7777_8888, 0x9999);
        m.Cpu.S.Ftw = 0xffff;
        m.Load(a =>
        {
            a.movq2dq(xmm0, mm1);
            a.movdq2q(mm2, xmm3);
        }).Run();
        Assert.Equal((0x1111_2222_3333_4444UL, 0UL), m.Xmm(0));
        Assert.Equal(0x5555_6666_7777_8888UL, m.Mm(2));
        Assert.Equal(0xffff, m.Fpr(2).SignExponent);
        Assert.Equal(0, m.Cpu.S.Ftw);
    }

    [Fact]
    public void Arithmetic()
    {
        Assert.Equal(0x0200_8000_ffff_0000UL, Binary(a => a.paddb(mm0, mm1), 0x01ff_7f80_0000_0010, 0x0101_0180_ffff_00f0));
        Assert.Equal(0x0000_0001_0000_0000UL, Binary(a => a.paddd(mm0, mm1), 0x0000_0000_ffff_ffff, 0x0000_0001_0000_0001));
        Assert.Equal(0UL, Binary(a => a.paddq(mm0, mm1), ulong.MaxValue, 1));
        Assert.Equal(ulong.MaxValue, Binary(a => a.psubq(mm0, mm1), 0, 1));
        Assert.Equal(0x7fff_8000_7fff_fffeUL, Binary(a => a.paddsw(mm0, mm1), 0x7fff_8000_0001_ffff, 0x0001_ffff_7fff_ffff));
        Assert.Equal(0x0000_0000_ffff_30ffUL, Binary(a => a.paddusb(mm0, mm1), 0x0000_0000_ff80_1001, 0x0000_0000_0180_20ff));
        Assert.Equal(0x0000_0000_0010_0010UL, Binary(a => a.psubusb(mm0, mm1), 0x0000_0000_1020_3040, 0x0000_0000_2010_4030));
        Assert.Equal(0x0000_4000_0000_0012UL, Binary(a => a.pmulhw(mm0, mm1), 0x0000_8000_ffff_1234, 0x0000_8000_ffff_0100));
        Assert.Equal(0x0000_0000_0001_3400UL, Binary(a => a.pmullw(mm0, mm1), 0x0000_8000_ffff_1234, 0x0000_8000_ffff_0100));
        Assert.Equal(0x0000_4000_fffe_0012UL, Binary(a => a.pmulhuw(mm0, mm1), 0x0000_8000_ffff_1234, 0x0000_8000_ffff_0100));
        Assert.Equal(0xffff_fffe_0000_0001UL, Binary(a => a.pmuludq(mm0, mm1), 0xaaaa_aaaa_ffff_ffff, 0x1234_5678_ffff_ffff));
        Assert.Equal(0x0000_0002_8000_0000UL, Binary(a => a.pmaddwd(mm0, mm1), 0xffff_0002_8000_8000, 0x0004_0003_8000_8000));
        Assert.Equal(0x222UL, Binary(a => a.psadbw(mm0, mm1), 0x0102_0304_2010_ff00, 0x0201_0403_1020_00ff));
        Assert.Equal(0x0000_0000_0002_01ffUL, Binary(a => a.pavgb(mm0, mm1), 0x0000_0000_0001_00ff, 0x0000_0000_0002_01ff));
        Assert.Equal(0xffff_8000UL, Binary(a => a.pminsw(mm0, mm1), 0x0001_8000, 0xffff_7fff));
        Assert.Equal(0xff80UL, Binary(a => a.pmaxub(mm0, mm1), 0x0180, 0xff7f));
        Assert.Equal(0x0000_ffff_0000_ffffUL, Binary(a => a.pcmpgtw(mm0, mm1), 0xffff_7fff_8000_0001, 0xffff_8000_7fff_0000));
        Assert.Equal(0xffff_00ff_ff00_ffffUL, Binary(a => a.pcmpeqb(mm0, mm1), 0x0011_2233_4455_6677, 0x0011_0033_4400_6677));
        Assert.Equal(0x0f00_0f00_0f00_0f00UL, Binary(a => a.pandn(mm0, mm1), 0xf0f0_f0f0_f0f0_f0f0, 0xff00_ff00_ff00_ff00));
    }

    [Fact]
    public void Shifts()
    {
        Assert.Equal(0x0000_0000_0000_0010UL, Binary(a => a.psllw(mm0, 4), 0x8000_4000_2000_1001, 0));
        Assert.Equal(0UL, Binary(a => a.psrlw(mm0, mm1), 0x8000_4000_2000_1001, 64));
        Assert.Equal(0xc000_2000_1000_0800UL, Binary(a => a.psraw(mm0, mm1), 0x8000_4000_2000_1001, 1));
        Assert.Equal(0x8000_0000_0000_0000UL, Binary(a => a.psllq(mm0, 63), 0x8000_4000_2000_1001, 0));
        Assert.Equal(0xffff_ffff_0000_0000UL, Binary(a => a.psrad(mm0, 40), 0x8000_4000_2000_1001, 0));
        Assert.Equal(0x0000_8000_0000_2000UL, Binary(a => a.psrld(mm0, 16), 0x8000_4000_2000_1001, 0));
    }

    [Fact]
    public void PacksUseBothHalves()
    {
        Assert.Equal(0x7f00_7fff_8005_807fUL, Binary(a => a.packsswb(mm0, mm1), 0x8000_0005_ff80_0080, 0x7fff_0000_0100_ffff));
        Assert.Equal(0xff00_ff00_ff05_ff80UL, Binary(a => a.packuswb(mm0, mm1), 0x7fff_0005_0100_0080, 0x7fff_0000_0100_ffff));
        Assert.Equal(0x0000_ffff_8000_7fffUL, Binary(a => a.packssdw(mm0, mm1), 0xffff_0000_0001_0000, 0x0000_0000_ffff_ffff));
    }

    [Fact]
    public void UnpacksAndShuffle()
    {
        const ulong D = 0x0706_0504_0302_0100, S = 0x1716_1514_1312_1110;
        Assert.Equal(0x1707_1606_1505_1404UL, Binary(a => a.punpckhbw(mm0, mm1), D, S));
        Assert.Equal(0x1303_1202_1101_1000UL, Binary(a => a.punpcklbw(mm0, mm1), D, S));
        Assert.Equal(0x1312_0302_1110_0100UL, Binary(a => a.punpcklwd(mm0, mm1), D, S));
        Assert.Equal(0x1716_0706_1514_0504UL, Binary(a => a.punpckhwd(mm0, mm1), D, S));
        Assert.Equal(0x1312_1110_0302_0100UL, Binary(a => a.punpckldq(mm0, mm1), D, S));
        Assert.Equal(0x1716_1514_0706_0504UL, Binary(a => a.punpckhdq(mm0, mm1), D, S));
        Assert.Equal(0x1110_1312_1514_1716UL, Binary(a => a.pshufw(mm0, mm1, 0x1b), D, S));
        Assert.Equal(0x0302_0302_0302_0302UL, Binary(a => a.pshufw(mm0, mm0, 0x55), D, S));
    }

    [Fact]
    public void UnpackLowReadsOnlyADwordOfMemory()
    {
        using var m = new TestMachine();
        m.SetMm(0, 0x0706_0504_0302_0100);
        m.WriteMem(Data, 0xffff_ffff_1312_1110, 8);
        m.Load(a =>
        {
            a.mov(rax, Data);
            a.punpcklbw(mm0, __dword_ptr[rax]);
        }).Run();
        Assert.Equal(0x1303_1202_1101_1000UL, m.Mm(0));
    }

    [Fact]
    public void WordInsertExtractAndByteMask()
    {
        using var m = new TestMachine();
        m.SetMm(0, 0x0706_0504_0302_0100);
        m.SetMm(1, 0x80ff_0000_0000_0080);
        m.Load(a =>
        {
            a.mov(eax, 0xabcd);
            a.mov(rcx, -1L);
            a.pinsrw(mm0, eax, 6);
            a.pextrw(ecx, mm0, 7);
            a.pextrw(edx, mm0, 2);
            a.pmovmskb(esi, mm1);
        }).Run();
        Assert.Equal(0x0706_abcd_0302_0100UL, m.Mm(0));
        Assert.Equal(0x0706UL, m[Gpr.Rcx]);
        Assert.Equal(0xabcdUL, m[Gpr.Rdx]);
        Assert.Equal(0xc1UL, m[Gpr.Rsi]);
    }

    [Fact]
    public void MaskMovqInThirtyTwoBitCode()
    {
        using var m = new TestMachine(32);
        m.SetMm(0, 0x0706_0504_0302_0100);
        m.SetMm(1, 0x8000_0000_0000_ff80);
        m.WriteMem(Data, 0xaaaa_aaaa_aaaa_aaaa, 8);
        m.Load(a =>
        {
            a.mov(edi, (uint)Data);
            a.maskmovq(mm0, mm1);
        }).Run();
        Assert.Equal(0x07aa_aaaa_aaaa_0100UL, m.ReadMem(Data, 8));
    }

    [Fact]
    public void ThirtyTwoBitMemoryOperands()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Data, 0x00ff_00ff_00ff_00ff, 8);
        m.WriteMem(Data + 9, 0x0101_0101_0101_0101, 8);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.movq(mm0, __qword_ptr[ebx]);
            a.paddusb(mm0, __qword_ptr[ebx + 9]);
            a.movq(__qword_ptr[ebx + 16], mm0);
            a.movd(eax, mm0);
        }).Run();
        Assert.Equal(0x01ff_01ff_01ff_01ffUL, m.ReadMem(Data + 16, 8));
        Assert.Equal(0x01ff_01ffUL, m[Gpr.Rax]);
    }

    [Fact]
    public void SixteenBitCode()
    {
        const ushort D = 0x4000;
        using var m = new TestMachine(16);
        m.WriteMem(D, 0x0004_0003_0002_0001, 8);
        m.Load(a =>
        {
            a.mov(bx, D);
            a.movq(mm1, __qword_ptr[bx]);
            a.pmullw(mm1, mm1);
            a.pshufw(mm2, mm1, 0x1b);
            a.movq(__qword_ptr[bx + 8], mm2);
            a.emms();
        }, 0x1000).Run();
        Assert.Equal(0x0001_0004_0009_0010UL, m.ReadMem(D + 8, 8));
        Assert.Equal(0xffff, m.Cpu.S.Ftw);
    }
}

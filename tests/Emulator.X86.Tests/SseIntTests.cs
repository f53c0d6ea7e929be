using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// SSE/SSE2 integer instructions and data movement. Expected vectors are worked out by hand from
/// the SDM's "Operation" sections; a vector is written (high quadword, low quadword).
/// </summary>
public class SseIntTests
{
    private const ulong Data = TestMachine.DataAddress;

    /// <summary>Runs <paramref name="op"/> on xmm0 = (d1:d0), xmm1 = (s1:s0) in 64-bit code; returns xmm0.</summary>
    private static (ulong Lo, ulong Hi) Binary(Action<Assembler> op, ulong d0, ulong d1, ulong s0, ulong s1)
    {
        using var m = new TestMachine();
        m.SetXmm(0, d0, d1);
        m.SetXmm(1, s0, s1);
        m.Load(op).Run();
        return m.Xmm(0);
    }

    [Fact]
    public void MovdqaMovdquLoadAndStore()
    {
        using var m = new TestMachine();
        m.WriteMem(Data, 0x0011_2233_4455_6677, 8);
        m.WriteMem(Data + 8, 0x8899_aabb_ccdd_eeff, 8);
        m.Load(a =>
        {
            a.mov(rbx, Data);
            a.movdqa(xmm3, __xmmword_ptr[rbx]);
            a.movdqu(__xmmword_ptr[rbx + 0x21], xmm3);
            a.movdqu(xmm9, __xmmword_ptr[rbx + 0x21]);
            a.movaps(xmm4, xmm9);
            a.movapd(__xmmword_ptr[rbx + 0x40], xmm4);
            a.movups(xmm5, __xmmword_ptr[rbx + 0x40]);
            a.lddqu(xmm6, __xmmword_ptr[rbx + 0x21]);
        }).Run();
        Assert.Equal((0x0011_2233_4455_6677UL, 0x8899_aabb_ccdd_eeffUL), m.Xmm(3));
        Assert.Equal(m.Xmm(3), m.Xmm(9));
        Assert.Equal(m.Xmm(3), m.Xmm(5));
        Assert.Equal(m.Xmm(3), m.Xmm(6));
        Assert.Equal(0x8899_aabb_ccdd_eeffUL, m.ReadMem(Data + 0x48, 8));
        Assert.Equal(0x6677UL, m.ReadMem(Data + 0x21, 2));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AlignedFormsFaultOnMisalignedMemory(int form)
    {
        using var m = new TestMachine();
        m.SetXmm(0, 1, 2);
        m.Load(a =>
        {
            a.mov(rbx, Data + 8);
            switch (form)
            {
                case 0: a.movdqa(xmm0, __xmmword_ptr[rbx]); break;
                case 1: a.movaps(__xmmword_ptr[rbx], xmm0); break;
                case 2: a.paddb(xmm0, __xmmword_ptr[rbx]); break;
                default: a.movntdq(__xmmword_ptr[rbx], xmm0); break;
            }
        });
        Assert.Equal(Vector.GP, m.RunToException());
        Assert.Equal((1UL, 2UL), m.Xmm(0));
        Assert.Equal(0UL, m.ReadMem(Data + 8, 8));
    }

    [Fact]
    public void MovdMovqZeroExtendIntoXmm()
    {
        using var m = new TestMachine();
        m.SetXmm(0, ulong.MaxValue, ulong.MaxValue);
        m.SetXmm(1, ulong.MaxValue, ulong.MaxValue);
        m.SetXmm(2, 0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00);
        m.SetXmm(3, ulong.MaxValue, ulong.MaxValue);
        m.SetXmm(4, ulong.MaxValue, ulong.MaxValue);
        m.WriteMem(Data, 0xfedc_ba98_7654_3210, 8);
        m.Load(a =>
        {
            a.mov(rax, 0x8765_4321_89ab_cdef);
            a.mov(rbx, Data);
            a.movd(xmm0, eax);
            a.movq(xmm1, rax);
            a.movq(xmm3, xmm2);
            a.movq(xmm4, __qword_ptr[rbx]);
            a.movd(ecx, xmm2);
            a.movq(rdx, xmm2);
            a.movd(__dword_ptr[rbx + 16], xmm2);
            a.movq(__qword_ptr[rbx + 24], xmm2);
            a.movd(xmm5, __dword_ptr[rbx]);
        }).Run();
        Assert.Equal((0x89ab_cdefUL, 0UL), m.Xmm(0));
        Assert.Equal((0x8765_4321_89ab_cdefUL, 0UL), m.Xmm(1));
        Assert.Equal((0x1122_3344_5566_7788UL, 0UL), m.Xmm(3));
        Assert.Equal((0xfedc_ba98_7654_3210UL, 0UL), m.Xmm(4));
        Assert.Equal((0x7654_3210UL, 0UL), m.Xmm(5));
        Assert.Equal(0x5566_7788UL, m[Gpr.Rcx]);
        Assert.Equal(0x1122_3344_5566_7788UL, m[Gpr.Rdx]);
        Assert.Equal(0x5566_7788UL, m.ReadMem(Data + 16, 8));
        Assert.Equal(0x1122_3344_5566_7788UL, m.ReadMem(Data + 24, 8));
    }

    [Fact]
    public void HalfMovesKeepTheOtherHalf()
    {
        using var m = new TestMachine();
        m.SetXmm(0, 0xaaaa, 0xbbbb);
        m.SetXmm(2, 0x2222, 0x3333);
        m.SetXmm(3, 0x4444, 0x5555);
        m.WriteMem(Data, 0xcccc, 8);
        m.Load(a =>
        {
            a.mov(rbx, Data);
            a.movdqa(xmm1, xmm0);
            a.movhps(xmm0, __qword_ptr[rbx]);
            a.movlpd(xmm1, __qword_ptr[rbx]);
            a.movhpd(__qword_ptr[rbx + 8], xmm0);
            a.movlps(__qword_ptr[rbx + 16], xmm0);
            a.movhlps(xmm2, xmm0);
            a.movlhps(xmm3, xmm0);
        }).Run();
        Assert.Equal((0xaaaaUL, 0xccccUL), m.Xmm(0));
        Assert.Equal((0xccccUL, 0xbbbbUL), m.Xmm(1));
        Assert.Equal(0xccccUL, m.ReadMem(Data + 8, 8));
        Assert.Equal(0xaaaaUL, m.ReadMem(Data + 16, 8));
        Assert.Equal((0xccccUL, 0x3333UL), m.Xmm(2));
        Assert.Equal((0x4444UL, 0xaaaaUL), m.Xmm(3));
    }

    [Fact]
    public void NonTemporalAndFloatTypedMoves()
    {
        using var m = new TestMachine();
        m.SetXmm(0, 0x1111_2222_3333_4444, 0x5555_6666_7777_8888);
        m.WriteMem(Data + 0x40, 0xf0f0_f0f0_0000_ffff, 8);
        m.WriteMem(Data + 0x48, 0x0f0f_0f0f_ffff_0000, 8);
        m.Load(a =>
        {
            a.mov(rbx, Data);
            a.mov(rax, 0x0123_4567_89ab_cdef);
            a.movntps(__xmmword_ptr[rbx], xmm0);
            a.movntpd(__xmmword_ptr[rbx + 0x10], xmm0);
            a.movnti(__dword_ptr[rbx + 0x20], eax);
            a.movnti(__qword_ptr[rbx + 0x28], rax);
            a.movapd(xmm1, __xmmword_ptr[rbx + 0x10]);
            a.movupd(xmm2, __xmmword_ptr[rbx + 0x24]);
            a.movdqa(xmm3, xmm0);
            a.andnps(xmm3, __xmmword_ptr[rbx + 0x40]);
            a.movdqa(xmm4, xmm0);
            a.orpd(xmm4, __xmmword_ptr[rbx + 0x40]);
            a.movdqa(xmm5, xmm0);
            a.xorps(xmm5, __xmmword_ptr[rbx + 0x40]);
            a.pextrw(__word_ptr[rbx + 0x50], xmm0, 6);
        }).Run();
        Assert.Equal(0x1111_2222_3333_4444UL, m.ReadMem(Data, 8));
        Assert.Equal(0x5555_6666_7777_8888UL, m.ReadMem(Data + 8, 8));
        Assert.Equal(m.Xmm(0), m.Xmm(1));
        Assert.Equal(0x89ab_cdefUL, m.ReadMem(Data + 0x20, 4));
        Assert.Equal(0x0123_4567_89ab_cdefUL, m.ReadMem(Data + 0x28, 8));
        Assert.Equal((0x89ab_cdef_0000_0000UL, 0x0000_0000_0123_4567UL), m.Xmm(2));
        Assert.Equal((0xe0e0_d0d0_0000_bbbbUL, 0x0a0a_0909_8888_0000UL), m.Xmm(3));
        Assert.Equal((0xf1f1_f2f2_3333_ffffUL, 0x5f5f_6f6f_ffff_8888UL), m.Xmm(4));
        Assert.Equal((0xe1e1_d2d2_3333_bbbbUL, 0x5a5a_6969_8888_8888UL), m.Xmm(5));
        Assert.Equal(0x6666UL, m.ReadMem(Data + 0x50, 8));
    }

    [Fact]
    public void SignMasks()
    {
        using var m = new TestMachine();
        m.SetXmm(0, 0x8000_0000_0000_0000, 0x0000_0000_8000_0000);
        m.SetXmm(1, 0x8000_0000_0000_0080, 0xff00_0000_0000_0000);
        m.Load(a =>
        {
            a.mov(rax, -1L);
            a.mov(rcx, -1L);
            a.movmskps(eax, xmm0);
            a.movmskpd(rcx, xmm0);
            a.pmovmskb(edx, xmm1);
        }).Run();
        Assert.Equal(6UL, m[Gpr.Rax]);
        Assert.Equal(1UL, m[Gpr.Rcx]);
        Assert.Equal(0x8081UL, m[Gpr.Rdx]);
    }

    [Fact]
    public void LogicAndZeroIdioms()
    {
        const ulong X = 0xff00_ff00_f0f0_1234, Y = 0x0ff0_0ff0_ffff_0000;
        Assert.Equal((X & Y, Y & X), Binary(a => a.pand(xmm0, xmm1), X, Y, Y, X));
        Assert.Equal((~X & Y, ~Y & X), Binary(a => a.pandn(xmm0, xmm1), X, Y, Y, X));
        Assert.Equal((X | Y, Y), Binary(a => a.orps(xmm0, xmm1), X, 0, Y, Y));
        Assert.Equal((X ^ Y, X ^ Y), Binary(a => a.xorpd(xmm0, xmm1), X, Y, Y, X));
        Assert.Equal((X & Y, 0UL), Binary(a => a.andps(xmm0, xmm1), X, 0, Y, Y));
        Assert.Equal((~X & Y, 0UL), Binary(a => a.andnpd(xmm0, xmm1), X, ulong.MaxValue, Y, 0));
        Assert.Equal((0UL, 0UL), Binary(a => a.xorps(xmm0, xmm0), X, Y, 0, 0));
        Assert.Equal((0UL, 0UL), Binary(a => a.pxor(xmm0, xmm0), X, Y, 0, 0));
        Assert.Equal((ulong.MaxValue, ulong.MaxValue), Binary(a => a.pcmpeqd(xmm0, xmm0), X, Y, 0, 0));
    }

    [Fact]
    public void WrappingAddAndSubtract()
    {
        Assert.Equal((0x0200_8000_ffff_0000UL, 0xffff_ffff_ffff_ff00UL),
            Binary(a => a.paddb(xmm0, xmm1), 0x01ff_7f80_0000_0010, ulong.MaxValue, 0x0101_0180_ffff_00f0, 1));
        Assert.Equal((0x0000_0000_ffff_0001UL, 0UL),
            Binary(a => a.paddw(xmm0, xmm1), 0x0000_0000_fffe_ffff, 0, 0x0000_0000_0001_0002, 0));
        Assert.Equal((0x0000_0001_0000_0000UL, 0x8000_0000_0000_0000UL),
            Binary(a => a.paddd(xmm0, xmm1), 0x0000_0000_ffff_ffff, 0x7fff_ffff_0000_0000, 0x0000_0001_0000_0001, 0x0000_0001_0000_0000));
        Assert.Equal((0UL, 3UL), Binary(a => a.paddq(xmm0, xmm1), ulong.MaxValue, 1, 1, 2));
        Assert.Equal((0x01ff_0000_0000_0000UL, 0UL),
            Binary(a => a.psubb(xmm0, xmm1), 0x0000_0000_0000_0000, 0, 0xff01_0000_0000_0000, 0));
        Assert.Equal((0xffff_0000_0000_0000UL, 0UL),
            Binary(a => a.psubw(xmm0, xmm1), 0, 0, 0x0001_0000_0000_0000, 0));
        Assert.Equal((0UL, 0xffff_ffff_0000_0001UL), Binary(a => a.psubd(xmm0, xmm1), 5, 0x0000_0000_0000_0002, 5, 0x0000_0001_0000_0001));
        Assert.Equal((ulong.MaxValue, 0UL), Binary(a => a.psubq(xmm0, xmm1), 0, 7, 1, 7));
        Assert.Equal((0UL, 0UL), Binary(a => a.psubq(xmm0, xmm0), 5, 6, 0, 0));
    }

    [Fact]
    public void SaturatingAddAndSubtract()
    {
        Assert.Equal((0x7fff_8000_7fff_fffeUL, 0UL),
            Binary(a => a.paddsw(xmm0, xmm1), 0x7fff_8000_0001_ffff, 0, 0x0001_ffff_7fff_ffff, 0));
        Assert.Equal((0x0000_0000_ffff_30ffUL, 0UL),
            Binary(a => a.paddusb(xmm0, xmm1), 0x0000_0000_ff80_1001, 0, 0x0000_0000_0180_20ff, 0));
        Assert.Equal((0x0000_0000_0010_0010UL, 0UL),
            Binary(a => a.psubusb(xmm0, xmm1), 0x0000_0000_1020_3040, 0, 0x0000_0000_2010_4030, 0));
        Assert.Equal((0x0000_0000_0080_7ffeUL, 0x80UL),
            Binary(a => a.psubsb(xmm0, xmm1), 0x0000_0000_0080_7f05, 0x80, 0x0000_0000_0001_ff07, 0x7f));
        Assert.Equal((0x0000_0000_0080_7f7fUL, 0UL),
            Binary(a => a.paddsb(xmm0, xmm1), 0x0000_0000_0080_7f70, 0, 0x0000_0000_0000_0120, 0));
        Assert.Equal((0x0000_0000_ffff_0003UL, 0UL),
            Binary(a => a.paddusw(xmm0, xmm1), 0x0000_0000_8000_0001, 0, 0x0000_0000_8000_0002, 0));
        Assert.Equal((0x0000_0000_8000_0000UL, 0x7fffUL),
            Binary(a => a.psubsw(xmm0, xmm1), 0x0000_0000_8000_0005, 0x7fff, 0x0000_0000_0001_0005, 0xffff));
        Assert.Equal((0x0000_0000_0000_0001UL, 0UL),
            Binary(a => a.psubusw(xmm0, xmm1), 0x0000_0000_0001_8000, 0, 0x0000_0000_0002_7fff, 0));
    }

    [Fact]
    public void Multiplies()
    {
        const ulong D = 0x0000_8000_ffff_1234, S = 0x0000_8000_ffff_0100;
        Assert.Equal((0x0000_0000_0001_3400UL, 0UL), Binary(a => a.pmullw(xmm0, xmm1), D, 0, S, 0));
        Assert.Equal((0x0000_4000_0000_0012UL, 0UL), Binary(a => a.pmulhw(xmm0, xmm1), D, 0, S, 0));
        Assert.Equal((0x0000_4000_fffe_0012UL, 0UL), Binary(a => a.pmulhuw(xmm0, xmm1), D, 0, S, 0));
        Assert.Equal((0xffff_fffe_0000_0001UL, 0x1_0000_0000UL),
            Binary(a => a.pmuludq(xmm0, xmm1), 0xaaaa_aaaa_ffff_ffff, 2, 0x1234_5678_ffff_ffff, 0xffff_ffff_8000_0000));
        Assert.Equal((0x0000_0002_8000_0000UL, 0x0000_0000_ffff_fffeUL),
            Binary(a => a.pmaddwd(xmm0, xmm1), 0xffff_0002_8000_8000, 0x0000_0000_0001_0001, 0x0004_0003_8000_8000, 0x0000_0000_fffd_0001));
    }

    [Fact]
    public void AverageMinMaxAndSad()
    {
        Assert.Equal((0x0000_0000_0002_01ffUL, 0UL), Binary(a => a.pavgb(xmm0, xmm1), 0x0000_0000_0001_00ff, 0, 0x0000_0000_0002_01ff, 0));
        Assert.Equal((0x0000_0000_0001_ffffUL, 0UL), Binary(a => a.pavgw(xmm0, xmm1), 0x0000_0000_0000_ffff, 0, 0x0000_0000_0001_ffff, 0));
        Assert.Equal((0x017fUL, 0UL), Binary(a => a.pminub(xmm0, xmm1), 0x0180, 0, 0xff7f, 0));
        Assert.Equal((0xff80UL, 0UL), Binary(a => a.pmaxub(xmm0, xmm1), 0x0180, 0, 0xff7f, 0));
        Assert.Equal((0xffff_8000UL, 0UL), Binary(a => a.pminsw(xmm0, xmm1), 0x0001_8000, 0, 0xffff_7fff, 0));
        Assert.Equal((0x0001_7fffUL, 0UL), Binary(a => a.pmaxsw(xmm0, xmm1), 0x0001_8000, 0, 0xffff_7fff, 0));
        Assert.Equal((0x222UL, 0x7f8UL), Binary(a => a.psadbw(xmm0, xmm1), 0x0102_0304_2010_ff00, ulong.MaxValue, 0x0201_0403_1020_00ff, 0));
    }

    [Fact]
    public void Compares()
    {
        Assert.Equal((0xffff_00ff_ff00_ffffUL, ulong.MaxValue),
            Binary(a => a.pcmpeqb(xmm0, xmm1), 0x0011_2233_4455_6677, 0, 0x0011_0033_4400_6677, 0));
        Assert.Equal((0x0000_ffff_0000_ffffUL, 0UL),
            Binary(a => a.pcmpgtw(xmm0, xmm1), 0xffff_7fff_8000_0001, 0, 0xffff_8000_7fff_0000, 0));
        Assert.Equal((0xffff_ffff_0000_0000UL, 0UL), Binary(a => a.pcmpgtd(xmm0, xmm1), 0x0000_0005_8000_0000, 0, 0x0000_0004_0000_0000, 0));
        Assert.Equal((0x00ffUL, 0UL), Binary(a => a.pcmpgtb(xmm0, xmm1), 0x8001, 0, 0x7f80, 0));
        Assert.Equal((0xffff_ffff_ffff_0000UL, ulong.MaxValue), Binary(a => a.pcmpeqw(xmm0, xmm1), 0x1234, 0, 0x1235, 0));
        Assert.Equal((0x0000_0000_ffff_ffffUL, 0xffff_ffff_0000_0000UL), Binary(a => a.pcmpeqd(xmm0, xmm1), 0x0000_0001_1234_5678, 2, 0x0000_0002_1234_5678, 3));
    }

    [Fact]
    public void ShiftsByImmediateAndRegister()
    {
        const ulong Lo = 0x8000_4000_2000_1001, Hi = 0xffff_0000_0000_0001;
        Assert.Equal((0x0000_0000_0000_0010UL, 0xfff0_0000_0000_0010UL), Binary(a => a.psllw(xmm0, 4), Lo, Hi, 0, 0));
        Assert.Equal((0UL, 0UL), Binary(a => a.psllw(xmm0, 16), Lo, Hi, 0, 0));
        Assert.Equal((0xffff_0000_0000_0000UL, 0xffff_0000_0000_0000UL), Binary(a => a.psraw(xmm0, 20), Lo, Hi, 0, 0));
        Assert.Equal((0x0800_0400_0200_0100UL, 0x0fff_f000_0000_0000UL), Binary(a => a.psrld(xmm0, xmm1), Lo, Hi, 4, ulong.MaxValue));
        Assert.Equal((0UL, 0UL), Binary(a => a.psrlq(xmm0, xmm1), Lo, Hi, 0x8000_0000_0000_0000, 0));
        Assert.Equal((0UL, 0UL), Binary(a => a.psllq(xmm0, 64), Lo, Hi, 0, 0));
        Assert.Equal((0x8000_0000_0000_0000UL, 0x8000_0000_0000_0000UL), Binary(a => a.psllq(xmm0, 63), Lo, Hi, 0, 0));
        Assert.Equal((0xffff_ffff_0000_0000UL, 0xffff_ffff_0000_0000UL), Binary(a => a.psrad(xmm0, 31), Lo, Hi, 0, 0));
        Assert.Equal((0xffff_ffff_0000_0000UL, 0xffff_ffff_0000_0000UL), Binary(a => a.psrad(xmm0, xmm1), Lo, Hi, 1UL << 32, 0));
        Assert.Equal((0x4000_0000_1001_0000UL, 0x0000_0000_0001_0000UL), Binary(a => a.pslld(xmm0, xmm1), Lo, Hi, 16, 0));
        Assert.Equal((Lo >> 1, Hi >> 1), Binary(a => a.psrlq(xmm0, 1), Lo, Hi, 0, 0));
        Assert.Equal((Lo, Hi), Binary(a => a.psrlw(xmm0, 0), Lo, Hi, 0, 0));
        Assert.Equal((0x0800_0400_0200_0100UL, 0x0fff_0000_0000_0000UL), Binary(a => a.psrlw(xmm0, 4), Lo, Hi, 0, 0));
        Assert.Equal((0x0020_0010_0100_0000UL, 0x0000_0000_0180_0040UL), Binary(a => a.pslldq(xmm0, 3), Lo, Hi, 0, 0));
        Assert.Equal((0x00ff_ff00_0000_0000UL, 0UL), Binary(a => a.psrldq(xmm0, 9), Lo, Hi, 0, 0));
        Assert.Equal((0UL, 0UL), Binary(a => a.psrldq(xmm0, 16), Lo, Hi, 0, 0));
        Assert.Equal((Hi, 0UL), Binary(a => a.psrldq(xmm0, 8), Lo, Hi, 0, 0));
    }

    [Fact]
    public void ShiftCountFromMemory()
    {
        using var m = new TestMachine();
        m.SetXmm(0, 0x0001_0001_0001_0001, 0x8000_8000_8000_8000);
        m.WriteMem(Data, 3, 8);
        m.WriteMem(Data + 8, 0xffff, 8);
        m.Load(a =>
        {
            a.mov(rax, Data);
            a.psllw(xmm0, __xmmword_ptr[rax]);
        }).Run();
        Assert.Equal((0x0008_0008_0008_0008UL, 0UL), m.Xmm(0));
    }

    [Fact]
    public void Packs()
    {
        Assert.Equal((0x01ff_0080_807f_807fUL, 0x0000_0005_0000_0000UL),
            Binary(a => a.packsswb(xmm0, xmm1), 0x8000_7fff_ff80_0080, 0x0001_ffff_0000_ff7f, 0, 0x0000_0000_0000_0005));
        Assert.Equal((0x0100_0000_00ff_0080UL, 0UL),
            Binary(a => a.packuswb(xmm0, xmm1), 0x8000_7fff_ff80_0080, 0x0001_ffff_0000_ff7f, 0, 0));
        Assert.Equal((0x8000_7fff_8000_7fffUL, 0x0000_0000_0002_ffffUL),
            Binary(a => a.packssdw(xmm0, xmm1), 0xffff_8000_0000_8000, 0x8000_0000_0001_2345, 0x0000_0002_ffff_ffff, 0));
    }

    [Fact]
    public void Unpacks()
    {
        const ulong D0 = 0x0706_0504_0302_0100, D1 = 0x0f0e_0d0c_0b0a_0908, S0 = 0x1716_1514_1312_1110, S1 = 0x1f1e_1d1c_1b1a_1918;
        Assert.Equal((0x1303_1202_1101_1000UL, 0x1707_1606_1505_1404UL), Binary(a => a.punpcklbw(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1b0b_1a0a_1909_1808UL, 0x1f0f_1e0e_1d0d_1c0cUL), Binary(a => a.punpckhbw(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1312_0302_1110_0100UL, 0x1716_0706_1514_0504UL), Binary(a => a.punpcklwd(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1b1a_0b0a_1918_0908UL, 0x1f1e_0f0e_1d1c_0d0cUL), Binary(a => a.punpckhwd(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1312_1110_0302_0100UL, 0x1716_1514_0706_0504UL), Binary(a => a.punpckldq(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1312_1110_0302_0100UL, 0x1716_1514_0706_0504UL), Binary(a => a.unpcklps(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1b1a_1918_0b0a_0908UL, 0x1f1e_1d1c_0f0e_0d0cUL), Binary(a => a.punpckhdq(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x1b1a_1918_0b0a_0908UL, 0x1f1e_1d1c_0f0e_0d0cUL), Binary(a => a.unpckhps(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((D0, S0), Binary(a => a.punpcklqdq(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((D0, S0), Binary(a => a.unpcklpd(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((D1, S1), Binary(a => a.punpckhqdq(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((D1, S1), Binary(a => a.unpckhpd(xmm0, xmm1), D0, D1, S0, S1));
        Assert.Equal((0x0303_0202_0101_0000UL, 0x0707_0606_0505_0404UL), Binary(a => a.punpcklbw(xmm0, xmm0), D0, D1, S0, S1));
    }

    [Fact]
    public void Shuffles()
    {
        const ulong D0 = 0x0706_0504_0302_0100, D1 = 0x0f0e_0d0c_0b0a_0908, S0 = 0x1716_1514_1312_1110, S1 = 0x1f1e_1d1c_1b1a_1918;
        Assert.Equal((0x1b1a_1918_1f1e_1d1cUL, 0x1312_1110_1716_1514UL), Binary(a => a.pshufd(xmm0, xmm1, 0x1b), D0, D1, S0, S1));
        Assert.Equal((D1, D0), Binary(a => a.pshufd(xmm0, xmm0, 0x4e), D0, D1, S0, S1));
        Assert.Equal((0x1110_1312_1514_1716UL, S1), Binary(a => a.pshuflw(xmm0, xmm1, 0x1b), D0, D1, S0, S1));
        Assert.Equal((S0, 0x1918_1918_1918_1918UL), Binary(a => a.pshufhw(xmm0, xmm1, 0x00), D0, D1, S0, S1));
        Assert.Equal((0x0f0e_0d0c_0b0a_0908UL, 0x1716_1514_1312_1110UL), Binary(a => a.shufps(xmm0, xmm1, 0x4e), D0, D1, S0, S1));
        Assert.Equal((D1, S0), Binary(a => a.shufpd(xmm0, xmm1, 1), D0, D1, S0, S1));
        Assert.Equal((D0, S1), Binary(a => a.shufpd(xmm0, xmm1, 2), D0, D1, S0, S1));
    }

    [Fact]
    public void MixedWidthStateAccessesInOneBlock()
    {
        using var m = new TestMachine();
        m.SetXmm(1, ulong.MaxValue, ulong.MaxValue);
        m.Load(a =>
        {
            a.mov(rax, 0x1111_2222_3333_4444);
            a.movq(xmm1, rax);
            a.pshufd(xmm0, xmm1, 0x1b);
            a.movd(ecx, xmm0);
            a.pextrw(edx, xmm0, 4);
            a.pinsrw(xmm1, edx, 0);
            a.movq(rsi, xmm1);
        }).Run();
        Assert.Equal((0UL, 0x3333_4444_1111_2222UL), m.Xmm(0));
        Assert.Equal(0UL, m[Gpr.Rcx]);
        Assert.Equal(0x2222UL, m[Gpr.Rdx]);
        Assert.Equal(0x1111_2222_3333_2222UL, m[Gpr.Rsi]);
    }

    [Fact]
    public void InsertAndExtractWord()
    {
        using var m = new TestMachine();
        m.SetXmm(0, 0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        m.Load(a =>
        {
            a.mov(eax, 0xabcd_1234);
            a.mov(rcx, -1L);
            a.mov(rbx, Data);
            a.mov(__word_ptr[rbx], 0x5566);
            a.pinsrw(xmm0, eax, 9);
            a.pinsrw(xmm0, __word_ptr[rbx], 7);
            a.pextrw(ecx, xmm0, 5);
            a.pextrw(edx, xmm0, 1);
        }).Run();
        Assert.Equal((0x0706_0504_1234_0100UL, 0x5566_0d0c_0b0a_0908UL), m.Xmm(0));
        Assert.Equal(0x0b0aUL, m[Gpr.Rcx]);
        Assert.Equal(0x1234UL, m[Gpr.Rdx]);
    }

    [Fact]
    public void MaskMovdquStoresSelectedBytes()
    {
        using var m = new TestMachine();
        m.SetXmm(0, 0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        m.SetXmm(1, 0x0000_0000_8000_00ff, 0x8000_0000_0000_0000);
        m.WriteMem(Data, 0xaaaa_aaaa_aaaa_aaaa, 8);
        m.WriteMem(Data + 8, 0xaaaa_aaaa_aaaa_aaaa, 8);
        m.Load(a =>
        {
            a.mov(rdi, Data);
            a.maskmovdqu(xmm0, xmm1);
        }).Run();
        Assert.Equal(0xaaaa_aaaa_03aa_aa00UL, m.ReadMem(Data, 8));
        Assert.Equal(0x0faa_aaaa_aaaa_aaaaUL, m.ReadMem(Data + 8, 8));
    }

    [Fact]
    public void ThirtyTwoBitCodeWithMemoryOperands()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Data, 0x0000_0001_ffff_ffff, 8);
        m.WriteMem(Data + 8, 0x7fff_ffff_0000_0010, 8);
        m.WriteMem(Data + 16, 0x0000_0001_0000_0001, 8);
        m.WriteMem(Data + 24, 0x0000_0001_0000_0001, 8);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.movdqu(xmm0, __xmmword_ptr[ebx]);
            a.paddd(xmm0, __xmmword_ptr[ebx + 16]);
            a.pshufd(xmm1, xmm0, 0x93);
            a.movdqa(__xmmword_ptr[ebx + 32], xmm1);
            a.movd(eax, xmm1);
            a.pmovmskb(ecx, xmm0);
            a.mov(edi, (uint)Data + 48);
            a.pcmpeqb(xmm2, xmm2);
            a.maskmovdqu(xmm0, xmm2);
        }).Run();
        // paddd: (0xffffffff+1, 1+1, 0x10+1, 0x7fffffff+1) = (0, 2, 0x11, 0x80000000); pshufd 0x93 rotates dwords up by one.
        Assert.Equal((0x0000_0000_8000_0000UL, 0x0000_0011_0000_0002UL), m.Xmm(1));
        Assert.Equal(0x0000_0000_8000_0000UL, m.ReadMem(Data + 32, 8));
        Assert.Equal(0x0000_0011_0000_0002UL, m.ReadMem(Data + 40, 8));
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax]);
        Assert.Equal(0x8000UL, m[Gpr.Rcx]);
        Assert.Equal(0x0000_0002_0000_0000UL, m.ReadMem(Data + 48, 8));
        Assert.Equal(0x8000_0000_0000_0011UL, m.ReadMem(Data + 56, 8));
    }

    [Fact]
    public void SixteenBitCode()
    {
        const ushort D = 0x4000;
        using var m = new TestMachine(16);
        m.WriteMem(D, 0x00ff_00ff_00ff_00ff, 8);
        m.WriteMem(D + 8, 0x0101_0101_0101_0101, 8);
        m.Load(a =>
        {
            a.mov(bx, D);
            a.movdqa(xmm0, __xmmword_ptr[bx]);
            a.movdqa(xmm1, xmm0);
            a.psrlw(xmm1, 8);
            a.por(xmm0, xmm1);
            a.packuswb(xmm0, xmm1);
            a.movdqu(__xmmword_ptr[bx + 0x11], xmm0);
            a.movd(eax, xmm0);
            a.movq(xmm2, __qword_ptr[bx]);
        }, 0x1000).Run();
        // xmm1 = words of xmm0 >> 8: 0 low, 1 high; por leaves xmm0; its words 0x00ff and 0x0101 saturate to 0xff.
        Assert.Equal((0xffff_ffff_ffff_ffffUL, 0x0101_0101_0000_0000UL), m.Xmm(0));
        Assert.Equal(0xffff_ffffUL, m[Gpr.Rax] & 0xffff_ffff);
        Assert.Equal(0x0101_0101_0000_0000UL, m.ReadMem(D + 0x19, 8));
        Assert.Equal((0x00ff_00ff_00ff_00ffUL, 0UL), m.Xmm(2));
    }
}

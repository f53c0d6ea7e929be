using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// SSE3, SSSE3, SSE4.1 and SSE4.2 (the x86-64-v2 vector level). Expected vectors are worked out
/// by hand from each instruction's "Operation" in the SDM (Vol. 2); a vector is (low quadword,
/// high quadword). The string compares are checked on the cases the SDM's imm8 tables describe:
/// a set of characters, a range, a string compare and a substring search.
/// </summary>
public class Sse4Tests
{
    private const ulong Data = TestMachine.DataAddress;

    private static (ulong Lo, ulong Hi) Binary(Action<Assembler> op, (ulong Lo, ulong Hi) d, (ulong Lo, ulong Hi) s)
    {
        using var m = new TestMachine();
        m.SetXmm(0, d.Lo, d.Hi);
        m.SetXmm(1, s.Lo, s.Hi);
        m.Load(op).Run();
        return m.Xmm(0);
    }

    private static uint F(float f) => BitConverter.SingleToUInt32Bits(f);

    private static (ulong, ulong) Ps(float a, float b, float c, float d) => (F(a) | ((ulong)F(b) << 32), F(c) | ((ulong)F(d) << 32));

    private static (ulong, ulong) Pd(double a, double b) => (BitConverter.DoubleToUInt64Bits(a), BitConverter.DoubleToUInt64Bits(b));

    /// <summary>A 16-byte string as (low, high) quadwords, zero-padded.</summary>
    private static (ulong, ulong) Str(string s)
    {
        var bytes = new byte[16];
        System.Text.Encoding.ASCII.GetBytes(s).CopyTo(bytes, 0);
        return (BitConverter.ToUInt64(bytes, 0), BitConverter.ToUInt64(bytes, 8));
    }

    [Fact]
    public void Sse3HorizontalAndAlternatingArithmetic()
    {
        Assert.Equal(Ps(3, 7, 30, 70), Binary(a => a.haddps(xmm0, xmm1), Ps(1, 2, 3, 4), Ps(10, 20, 30, 40)));
        Assert.Equal(Ps(-1, -1, -10, -10), Binary(a => a.hsubps(xmm0, xmm1), Ps(1, 2, 3, 4), Ps(10, 20, 30, 40)));
        Assert.Equal(Pd(3, 30), Binary(a => a.haddpd(xmm0, xmm1), Pd(1, 2), Pd(10, 20)));
        Assert.Equal(Pd(-1, -10), Binary(a => a.hsubpd(xmm0, xmm1), Pd(1, 2), Pd(10, 20)));
        Assert.Equal(Ps(-9, 22, -27, 44), Binary(a => a.addsubps(xmm0, xmm1), Ps(1, 2, 3, 4), Ps(10, 20, 30, 40)));
        Assert.Equal(Pd(4, 7), Binary(a => a.addsubpd(xmm0, xmm1), Pd(5, 5), Pd(1, 2)));
    }

    [Fact]
    public void Sse3Duplicates()
    {
        Assert.Equal((0x1111_2222_3333_4444UL, 0x1111_2222_3333_4444UL), Binary(a => a.movddup(xmm0, xmm1), (0, 0), (0x1111_2222_3333_4444, 0x5555)));
        Assert.Equal((0x2222_2222_2222_2222UL, 0x4444_4444_4444_4444UL), Binary(a => a.movshdup(xmm0, xmm1), (0, 0), (0x2222_2222_0000_0001, 0x4444_4444_0000_0003)));
        Assert.Equal((0x1111_1111_1111_1111UL, 0x3333_3333_3333_3333UL), Binary(a => a.movsldup(xmm0, xmm1), (0, 0), (0x2222_2222_1111_1111, 0x4444_4444_3333_3333)));

        using var m = new TestMachine();
        m.WriteMem(Data, 0xdead_beef_0bad_f00d, 8);
        m.Load(a =>
        {
            a.mov(rbx, Data + 3); // MOVDDUP m64 has no alignment requirement
            a.movddup(xmm2, __qword_ptr[rbx - 3]);
        }).Run();
        Assert.Equal((0xdead_beef_0bad_f00dUL, 0xdead_beef_0bad_f00dUL), m.Xmm(2));
    }

    [Fact]
    public void PshufbSelectsBytesAndZeroesWhereTheTopBitIsSet()
    {
        var r = Binary(a => a.pshufb(xmm0, xmm1), (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908), (0x0809_0a0b_0c0d_0e80, 0x0001_0203_0405_0607));
        Assert.Equal((0x0809_0a0b_0c0d_0e00UL, 0x0001_0203_0405_0607UL), r);
    }

    [Fact]
    public void PalignrShiftsTheConcatenation()
    {
        var r = Binary(a => a.palignr(xmm0, xmm1, 4), (0x1716_1514_1312_1110, 0x1f1e_1d1c_1b1a_1918), (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908));
        Assert.Equal((0x0b0a_0908_0706_0504UL, 0x1312_1110_0f0e_0d0cUL), r);
        var beyond = Binary(a => a.palignr(xmm0, xmm1, 20), (0x1716_1514_1312_1110, 0x1f1e_1d1c_1b1a_1918), (0, 0));
        Assert.Equal((0x1b1a_1918_1716_1514UL, 0x0000_0000_1f1e_1d1cUL), beyond);
    }

    [Fact]
    public void SsseAbsSignAndHorizontalAdds()
    {
        Assert.Equal((0x8000_0003_0005_0000UL, 0UL), Binary(a => a.pabsw(xmm0, xmm1), (0, 0), (0x8000_0003_fffb_0000, 0)));
        Assert.Equal((0xffff_fffb_0000_0005UL, 0UL), Binary(a => a.psignd(xmm0, xmm1), (0x0000_0005_0000_0005, 0x0000_0009_0000_0009), (0xffff_ffff_0000_0001, 0)));
        Assert.Equal((0x000f_000b_0007_0003UL, 0x0096_006e_0046_001eUL), Binary(a => a.phaddw(xmm0, xmm1), (0x0004_0003_0002_0001, 0x0008_0007_0006_0005), (0x0028_001e_0014_000a, 0x0050_0046_003c_0032)));
        Assert.Equal((0x0000_0000_7fff_8001UL, 0UL), Binary(a => a.phaddsw(xmm0, xmm1), (0x7fff_0001_8000_0001, 0), (0, 0)));
        Assert.Equal((0x8000_7fffUL, 0UL), Binary(a => a.pmaddubsw(xmm0, xmm1), (0xffff_ffff, 0), (0x8080_7f7f, 0)));
        Assert.Equal((0x8000_2000UL, 0UL), Binary(a => a.pmulhrsw(xmm0, xmm1), (0x8000_4000, 0), (0x8000_4000, 0)));
    }

    [Fact]
    public void SsseMmxForms()
    {
        using var m = new TestMachine();
        m.SetMm(1, 0x8081_7f00_fffe_0102);
        m.SetMm(2, 0x0000_0004_0000_0003);
        m.SetMm(3, 0x0000_0010_0000_0020);
        m.Load(a =>
        {
            a.pabsb(mm0, mm1);
            a.phaddd(mm2, mm3);
        }).Run();
        Assert.Equal(0x807f_7f00_0102_0102UL, m.Mm(0));
        Assert.Equal(0x0000_0030_0000_0007UL, m.Mm(2));
    }

    [Fact]
    public void Sse41IntegerArithmetic()
    {
        Assert.Equal((0x0001_0000UL, 0UL), Binary(a => a.pmulld(xmm0, xmm1), (0x0001_0000, 0), (0x0001_0001, 0)));
        Assert.Equal((unchecked((ulong)-6L), 0x0000_0000_0000_000cUL), Binary(a => a.pmuldq(xmm0, xmm1), (0x7777_7777_ffff_fffe, 0x0000_0000_0000_0003), (0x0000_0000_0000_0003, 0x0000_0000_0000_0004)));
        Assert.Equal((0x0000_0001_ffff_ffffUL, 0UL), Binary(a => a.pminsd(xmm0, xmm1), (0x0000_0001_ffff_ffff, 0), (0x0000_0002_0000_0001, 0)));
        Assert.Equal((0x0000_0002_ffff_ffffUL, 0UL), Binary(a => a.pmaxud(xmm0, xmm1), (0x0000_0001_ffff_ffff, 0), (0x0000_0002_0000_0001, 0)));
        Assert.Equal((0x0000_0000_0000_0081UL, 0UL), Binary(a => a.pmaxsb(xmm0, xmm1), (0x0000_0000_0000_0080, 0), (0x0000_0000_0000_0081, 0)));
        Assert.Equal((0xffff_0005_ffff_0000UL, 0UL), Binary(a => a.packusdw(xmm0, xmm1), (0x0001_1170_ffff_ffff, 0x0000_ffff_0000_0005), (0, 0)));
        Assert.Equal((ulong.MaxValue, 0UL), Binary(a => a.pcmpeqq(xmm0, xmm1), (5, 6), (5, 7)));
        Assert.Equal((0UL, ulong.MaxValue), Binary(a => a.pcmpgtq(xmm0, xmm1), (unchecked((ulong)-1L), 1), (0, unchecked((ulong)-1L))));
        Assert.Equal((0x0001_0003UL, 0UL), Binary(a => a.phminposuw(xmm0, xmm1), (0xffff, 0xffff), (0x0003_0009_0003_0005, 0x0007_0008_0004_0006)));
        Assert.Equal((0x0012_000e_000a_0006UL, 0x0022_001e_001a_0016UL), Binary(a => a.mpsadbw(xmm0, xmm1, 0), (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908), (0, 0)));
    }

    [Fact]
    public void Sse41BlendsAndExtends()
    {
        Assert.Equal((0x2222_1111_2222_1111UL, 0x2222_1111_2222_1111UL), Binary(a => a.pblendw(xmm0, xmm1, 0xaa), (0x1111_1111_1111_1111, 0x1111_1111_1111_1111), (0x2222_2222_2222_2222, 0x2222_2222_2222_2222)));
        Assert.Equal((0x2222_2222_1111_1111UL, 0x1111_1111_2222_2222UL), Binary(a => a.blendps(xmm0, xmm1, 0b0110), (0x1111_1111_1111_1111, 0x1111_1111_1111_1111), (0x2222_2222_2222_2222, 0x2222_2222_2222_2222)));

        using var m = new TestMachine();
        m.SetXmm(0, 0x0000_0000_8000_0080, 0x8000_0000_0000_0000); // PBLENDVB mask: bytes 0, 3 and 15
        m.SetXmm(1, 0x1111_1111_1111_1111, 0x1111_1111_1111_1111);
        m.SetXmm(2, 0x2222_2222_2222_2222, 0x2222_2222_2222_2222);
        m.SetXmm(3, 0, 0);
        m.SetXmm(4, 0x0000_7f80_0000_ff01, 0);
        m.WriteMem(Data, 0x8001_7fff, 4);
        m.Load(a =>
        {
            a.pblendvb(xmm1, xmm2);
            a.pmovsxbw(xmm3, xmm4);
            a.mov(rbx, Data);
            a.pmovzxwd(xmm5, __qword_ptr[rbx]);
            a.pmovsxbq(xmm6, __word_ptr[rbx + 2]);
        }).Run();
        Assert.Equal((0x1111_1111_2211_1122UL, 0x2211_1111_1111_1111UL), m.Xmm(1));
        Assert.Equal((0x0000_0000_ffff_0001UL, 0x0000_0000_007f_ff80UL), m.Xmm(3));
        Assert.Equal((0x0000_8001_0000_7fffUL, 0UL), m.Xmm(5));
        Assert.Equal((0x0000_0000_0000_0001UL, 0xffff_ffff_ffff_ff80UL), m.Xmm(6));
    }

    [Fact]
    public void Sse41InsertExtractAndTest()
    {
        using var m = new TestMachine();
        m.SetXmm(1, 0x7766_5544_3322_1100, 0xffee_ddcc_bbaa_9988);
        m.SetXmm(2, 0x4040_0000_3f80_0000, 0x4080_0000_c000_0000); // 1.0, 3.0, -2.0, 4.0
        m.SetXmm(3, 0, 0xffff_ffff_ffff_ffff);
        m.SetXmm(4, 0x0f, 0);
        m.Load(a =>
        {
            a.mov(rax, ulong.MaxValue);
            a.pextrb(eax, xmm1, 13);
            a.pextrq(rcx, xmm1, 1);
            a.extractps(edx, xmm2, 2);
            a.mov(rbx, Data);
            a.pextrd(__dword_ptr[rbx], xmm1, 3);
            a.pinsrd(xmm1, eax, 0);
            a.pinsrb(xmm1, ecx, 15);
            a.pinsrq(xmm3, rcx, 0);
            a.insertps(xmm4, xmm2, (3 << 6) | (1 << 4) | 0b0100); // source dword 3 into dword 1, clear dword 2
            a.ptest(xmm3, xmm3);
            a.setz(r8b);
            a.setc(r9b);
        }).Run();
        Assert.Equal(0xddUL, m[Gpr.Rax]);
        Assert.Equal(0xffee_ddcc_bbaa_9988UL, m[Gpr.Rcx]);
        Assert.Equal(0xc000_0000UL, m[Gpr.Rdx]);
        Assert.Equal(0xffee_ddccUL, m.ReadMem(Data, 4));
        Assert.Equal((0x7766_5544_0000_00ddUL, 0x88ee_ddcc_bbaa_9988UL), m.Xmm(1));
        Assert.Equal((0xffee_ddcc_bbaa_9988UL, 0xffff_ffff_ffff_ffffUL), m.Xmm(3));
        Assert.Equal((0x4080_0000_0000_000fUL, 0UL), m.Xmm(4));
        Assert.Equal(0UL, m[Gpr.R8] & 0xff); // xmm3 AND xmm3 is not zero
        Assert.Equal(1UL, m[Gpr.R9] & 0xff); // NOT xmm3 AND xmm3 is zero
    }

    [Fact]
    public void Sse41RoundAndDotProduct()
    {
        Assert.Equal(Ps(2, -2, 2, 0), Binary(a => a.roundps(xmm0, xmm1, 0), (0, 0), Ps(2.5f, -2.5f, 1.5f, 0.25f)));
        Assert.Equal(Ps(2, -3, 1, 0), Binary(a => a.roundps(xmm0, xmm1, 1), (0, 0), Ps(2.5f, -2.5f, 1.5f, 0.25f)));
        Assert.Equal(Ps(3, -2, 2, 1), Binary(a => a.roundps(xmm0, xmm1, 2), (0, 0), Ps(2.5f, -2.5f, 1.5f, 0.25f)));
        Assert.Equal(Pd(-2, -0.0), Binary(a => a.roundpd(xmm0, xmm1, 3), (0, 0), Pd(-2.75, -0.5)));
        Assert.Equal((BitConverter.DoubleToUInt64Bits(1e300), 0x1234UL), Binary(a => a.roundsd(xmm0, xmm1, 0), (0, 0x1234), Pd(1e300, 7)));
        Assert.Equal(Ps(70, 0, 0, 0), Binary(a => a.dpps(xmm0, xmm1, 0xf1), Ps(1, 2, 3, 4), Ps(5, 6, 7, 8)));
        Assert.Equal(Ps(0, 23, 23, 0), Binary(a => a.dpps(xmm0, xmm1, 0x36), Ps(1, 2, 3, 4), Ps(5, 9, 7, 8)));
        Assert.Equal(Pd(11, 11), Binary(a => a.dppd(xmm0, xmm1, 0x33), Pd(1.5, 2), Pd(2, 4)));
    }

    [Fact]
    public void RoundingSetsPrecisionUnlessSuppressed()
    {
        using var m = new TestMachine();
        m.SetXmm(1, F(2.5f), 0);
        m.Load(a =>
        {
            a.roundss(xmm0, xmm1, 8); // imm8[3]: no precision exception
            a.stmxcsr(__dword_ptr[Data]);
            a.roundss(xmm0, xmm1, 0);
            a.stmxcsr(__dword_ptr[Data + 4]);
        }).Run();
        Assert.Equal(0UL, m.ReadMem(Data, 4) & 0x20);
        Assert.Equal(0x20UL, m.ReadMem(Data + 4, 4) & 0x20);
    }

    [Fact]
    public void PcmpistriFindsACharacterOfASet()
    {
        using var m = new TestMachine();
        (ulong lo, ulong hi) = Str("aeiou");
        m.SetXmm(1, lo, hi);
        (lo, hi) = Str("hello world");
        m.SetXmm(2, lo, hi);
        m.Load(a =>
        {
            a.pcmpistri(xmm1, xmm2, 0x00); // unsigned bytes, equal any, first index
            a.pushfq();
            a.pop(rbx);
        }).Run();
        Assert.Equal(1UL, m[Gpr.Rcx]);
        ulong f = m[Gpr.Rbx];
        Assert.Equal((ulong)(RFlags.CF | RFlags.ZF | RFlags.SF), f & (ulong)(RFlags.CF | RFlags.ZF | RFlags.SF | RFlags.OF | RFlags.AF | RFlags.PF));
    }

    [Theory]
    [InlineData("az", "ABCdef", 0x04, 3)] // ranges: the first lower-case letter
    [InlineData("hello", "help!", 0x18, 3)] // equal each, negated: the first difference (strcmp)
    [InlineData("lo", "hello world", 0x0c, 3)] // equal ordered: a substring
    [InlineData("xyz", "hello", 0x00, 16)] // none found
    [InlineData("l", "hello", 0x40, 3)] // equal any, the last index
    public void PcmpistriAggregations(string needle, string haystack, int imm, int expected)
    {
        using var m = new TestMachine();
        (ulong lo, ulong hi) = Str(needle);
        m.SetXmm(1, lo, hi);
        (lo, hi) = Str(haystack);
        m.SetXmm(2, lo, hi);
        m.Load(a => a.pcmpistri(xmm1, xmm2, (byte)imm)).Run();
        Assert.Equal((ulong)expected, m[Gpr.Rcx]);
        Assert.Equal(expected != 16, m.Flag(RFlags.CF));
    }

    [Fact]
    public void PcmpestrmAndPcmpistrmMasks()
    {
        using var m = new TestMachine();
        (ulong lo, ulong hi) = Str("l");
        m.SetXmm(1, lo, hi);
        (lo, hi) = Str("hello");
        m.SetXmm(2, lo, hi);
        m.Load(a =>
        {
            a.pcmpistrm(xmm1, xmm2, 0x40); // byte mask
            a.movdqa(xmm3, xmm0);
            a.pcmpistrm(xmm1, xmm2, 0x00); // bit mask
            a.movdqa(xmm4, xmm0);
            a.mov(eax, 1);
            a.mov(edx, -4); // |-4| = 4: "hell"
            a.pcmpestrm(xmm1, xmm2, 0x00);
            a.movdqa(xmm5, xmm0);
            a.mov(eax, 1);
            a.mov(edx, 100);
            a.pcmpestri(xmm1, xmm2, 0x00); // b's length saturates to 16: ZF clear
            a.setz(r8b);
        }).Run();
        Assert.Equal((0x0000_0000_ffff_0000UL, 0UL), m.Xmm(3));
        Assert.Equal((0b1100UL, 0UL), m.Xmm(4));
        Assert.Equal((0b1100UL, 0UL), m.Xmm(5));
        Assert.Equal(2UL, m[Gpr.Rcx]);
        Assert.Equal(0UL, m[Gpr.R8] & 0xff);
    }

    /// <summary>PCMPESTRI with REX.W takes its lengths from RAX and RDX; without it, from EAX and EDX (SDM Vol. 2B 4.1.4).</summary>
    [Fact]
    public void PcmpestriLengthsFromRaxWithRexW()
    {
        using var m = new TestMachine();
        (ulong lo, ulong hi) = Str("l");
        m.SetXmm(1, lo, hi);
        (lo, hi) = Str("hello");
        m.SetXmm(2, lo, hi);
        m.Load(a =>
        {
            a.mov(rax, 0x1_0000_0001UL);
            a.mov(rdx, 0x1_0000_0003UL); // EDX = 3: "hel"; RDX is huge: 16 bytes
            a.pcmpestri(xmm1, xmm2, 0x40); // the last match
            a.mov(r8, rcx);
            a.pcmpestri64(xmm1, xmm2, 0x40); // |RAX| saturates to 16: "l" and 15 zeros, none of which is in b
            a.mov(r9, rcx);
        }).Run();
        Assert.Equal(2UL, m[Gpr.R8]); // the only "l" in "hel"
        Assert.Equal(15UL, m[Gpr.R9]); // b's zero bytes match a's zeros now that a is 16 long
    }

    /// <summary>CRC32 accumulates CRC-32C (Castagnoli) without inversion: "123456789" gives the standard check value 0xE3069283 after the usual inversions.</summary>
    [Fact]
    public void Crc32MatchesTheCrc32cCheckValue()
    {
        using var m = new TestMachine();
        System.Text.Encoding.ASCII.GetBytes("123456789").CopyTo(m.Memory.Span(Data, 9));
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            a.mov(rbx, Data);
            a.mov(eax, uint.MaxValue);
            a.xor(ecx, ecx);
            a.Label(ref loop);
            a.crc32(eax, __byte_ptr[rbx + rcx]);
            a.inc(ecx);
            a.cmp(ecx, 9);
            a.jb(loop);
            a.not(eax);

            a.mov(rdx, ulong.MaxValue);
            a.crc32(rdx, __qword_ptr[rbx]);
            a.crc32(edx, __byte_ptr[rbx + 8]);
            a.not(edx);

            a.mov(esi, uint.MaxValue);
            a.crc32(esi, __word_ptr[rbx]);
            a.crc32(esi, __word_ptr[rbx + 2]);
            a.crc32(esi, __dword_ptr[rbx + 4]);
            a.crc32(esi, __byte_ptr[rbx + 8]);
            a.not(esi);
        }).Run();
        Assert.Equal(0xE306_9283UL, m[Gpr.Rax]);
        Assert.Equal(0xE306_9283UL, m[Gpr.Rdx]);
        Assert.Equal(0xE306_9283UL, m[Gpr.Rsi]);
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Emulator.X86.Tests.SseFloatTests;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>SSE/SSE2 conversions, MOVSS/MOVSD, LDMXCSR/STMXCSR, RCP/RSQRT, and random programs against the host.</summary>
public unsafe class SseFloatConvertTests
{
    private const ulong Data = TestMachine.DataAddress;

    private static TestMachine Machine(Action<Assembler> code, uint mxcsr = Masked, int bitness = 64)
    {
        var m = new TestMachine(bitness);
        m.Load(code, bitness == 16 ? 0x1000 : TestMachine.CodeAddress);
        m.Cpu.S.Mxcsr = mxcsr;
        return m;
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, 2L, -2L)]
    [InlineData(IeeeRounding.Down, 2L, -3L)]
    [InlineData(IeeeRounding.Up, 3L, -2L)]
    [InlineData(IeeeRounding.TowardZero, 2L, -2L)]
    public void Cvtss2siRoundsPerModeAndCvttss2siTruncates(IeeeRounding rc, long positive, long negative)
    {
        // 2.5 and -2.5; the truncating form gives -2 for -2.7 in any mode.
        using var m = Machine(
            a =>
            {
                a.cvtss2si(eax, xmm0);
                a.cvtss2si(rbx, xmm1);
                a.cvttss2si(ecx, xmm2);
            },
            WithRc(rc));
        m[Gpr.Rax] = ulong.MaxValue;
        SetXmm(m, 0, 0x4020_0000);
        SetXmm(m, 1, 0xc020_0000);
        SetXmm(m, 2, 0xc02c_cccd);
        m.Run();
        Assert.Equal((ulong)(uint)positive, m[Gpr.Rax]);
        Assert.Equal((ulong)negative, m[Gpr.Rbx]);
        Assert.Equal(0xffff_fffeUL, m[Gpr.Rcx]);
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Fact]
    public void FloatToIntegerOutOfRangeGivesTheIntegerIndefinite()
    {
        using var m = Machine(a =>
        {
            a.cvtss2si(eax, xmm0); // NaN
            a.cvttss2si(ebx, xmm1); // 3e9
            a.cvtsd2si(rcx, xmm2); // 2^63
            a.cvttsd2si(rdx, xmm3); // -2^63: fits
        });
        SetXmm(m, 0, 0x7fc0_0000);
        SetXmm(m, 1, 0x4f32_d05e);
        SetXmm(m, 2, 0x43e0_0000_0000_0000);
        SetXmm(m, 3, 0xc3e0_0000_0000_0000);
        m.Run();
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax]);
        Assert.Equal(0x8000_0000UL, m[Gpr.Rbx]);
        Assert.Equal(0x8000_0000_0000_0000UL, m[Gpr.Rcx]);
        Assert.Equal(0x8000_0000_0000_0000UL, m[Gpr.Rdx]);
        Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void Cvttsd2siJustBelowTheRangeTruncatesIntoIt(int bitness)
    {
        using var m = Machine(a => a.cvttsd2si(eax, xmm0), Masked, bitness);
        SetXmm(m, 0, (ulong)BitConverter.DoubleToInt64Bits(-2147483648.9));
        m.Run();
        Assert.Equal(0x8000_0000UL, m[Gpr.Rax] & 0xffff_ffff);
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, 0x4b80_0000u)]
    [InlineData(IeeeRounding.Up, 0x4b80_0001u)]
    [InlineData(IeeeRounding.Down, 0x4b80_0000u)]
    public void Cvtsi2ssRoundsLargeIntegers(IeeeRounding rc, uint expected)
    {
        // 16777217 = 2^24 + 1 is halfway between singles 2^24 and 2^24 + 2. Register and memory sources.
        using var m = Machine(
            a =>
            {
                a.cvtsi2ss(xmm0, eax);
                a.mov(rbx, Data);
                a.cvtsi2ss(xmm1, __dword_ptr[rbx]);
            },
            WithRc(rc));
        m[Gpr.Rax] = 16777217;
        m.WriteMem(Data, 16777217, 4);
        SetXmm(m, 0, 0x1234_5678_0000_0000, 5);
        m.Run();
        Assert.Equal(0x1234_5678_0000_0000UL | expected, Lo(m, 0));
        Assert.Equal(5UL, Hi(m, 0));
        Assert.Equal((ulong)expected, Lo(m, 1));
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Fact]
    public void Cvtsi2sdFromSixtyFourAndThirtyTwoBits()
    {
        using var m = Machine(a =>
        {
            a.cvtsi2sd(xmm0, rax); // 2^53 + 1 rounds to 2^53
            a.cvtsi2sd(xmm1, ecx); // -1, exact
        });
        m[Gpr.Rax] = (1UL << 53) + 1;
        m[Gpr.Rcx] = 0xffff_ffff;
        m.Run();
        Assert.Equal(0x4340_0000_0000_0000UL, Lo(m, 0));
        Assert.Equal(0xbff0_0000_0000_0000UL, Lo(m, 1));
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Fact]
    public void ScalarFormatConversions()
    {
        using var m = Machine(a =>
        {
            a.cvtsd2ss(xmm0, xmm1); // 1e300: overflow
            a.cvtss2sd(xmm2, xmm3); // SNaN: quiet, payload moved up
            a.cvtss2sd(xmm4, xmm5); // 2^-149: denormal operand
        });
        SetXmm(m, 0, 0x1111_1111_0000_0000);
        SetXmm(m, 1, (ulong)BitConverter.DoubleToInt64Bits(1e300));
        SetXmm(m, 3, 0xff80_0001);
        SetXmm(m, 5, 1);
        m.Run();
        Assert.Equal(0x1111_1111_7f80_0000UL, Lo(m, 0));
        Assert.Equal(0xfff8_0000_2000_0000UL, Lo(m, 2));
        Assert.Equal(0x36a0_0000_0000_0000UL, Lo(m, 4));
        Assert.Equal(MxcsrBits.OE | MxcsrBits.PE | MxcsrBits.IE | MxcsrBits.DE, MxcsrFlags(m));
    }

    [Fact]
    public void PackedConversions()
    {
        using var m = Machine(a =>
        {
            a.cvtdq2ps(xmm0, xmm0);
            a.cvtps2dq(xmm1, xmm1);
            a.cvttps2dq(xmm2, xmm2);
            a.cvtpd2ps(xmm3, xmm3);
            a.cvtps2pd(xmm4, xmm4);
            a.cvtdq2pd(xmm5, xmm5);
            a.cvtpd2dq(xmm6, xmm6);
            a.cvttpd2dq(xmm7, xmm7);
        });
        SetXmm(m, 0, Pack(1, unchecked((uint)-2)), Pack(16777217, 0x8000_0000));
        SetXmm(m, 1, Pack(0x3fc0_0000, 0xbfc0_0000), Pack(0x7fc0_0000, 0x4f32_d05e)); // 1.5, -1.5, NaN, 3e9
        SetXmm(m, 2, Pack(0x3fc0_0000, 0xbfc0_0000), Pack(0x4040_0000, 0));
        SetXmm(m, 3, 0x3ff0_0000_0000_0000, (ulong)BitConverter.DoubleToInt64Bits(-0.1));
        SetXmm(m, 4, Pack(0x3f80_0000, 0xbf00_0000), 99);
        SetXmm(m, 5, Pack(7, uint.MaxValue), 99);
        SetXmm(m, 6, (ulong)BitConverter.DoubleToInt64Bits(2.5), (ulong)BitConverter.DoubleToInt64Bits(-3.5));
        SetXmm(m, 7, (ulong)BitConverter.DoubleToInt64Bits(2.5), (ulong)BitConverter.DoubleToInt64Bits(-3.5));
        m.Run();
        Assert.Equal(Pack(0x3f80_0000, 0xc000_0000), Lo(m, 0));
        Assert.Equal(Pack(0x4b80_0000, 0xcf00_0000), Hi(m, 0));
        Assert.Equal(Pack(2, unchecked((uint)-2)), Lo(m, 1));
        Assert.Equal(Pack(0x8000_0000, 0x8000_0000), Hi(m, 1));
        Assert.Equal(Pack(1, unchecked((uint)-1)), Lo(m, 2));
        Assert.Equal(Pack(3, 0), Hi(m, 2));
        Assert.Equal(Pack(0x3f80_0000, 0xbdcc_cccd), Lo(m, 3));
        Assert.Equal(0UL, Hi(m, 3));
        Assert.Equal(0x3ff0_0000_0000_0000UL, Lo(m, 4));
        Assert.Equal(0xbfe0_0000_0000_0000UL, Hi(m, 4));
        Assert.Equal(0x401c_0000_0000_0000UL, Lo(m, 5));
        Assert.Equal(0xbff0_0000_0000_0000UL, Hi(m, 5));
        Assert.Equal(Pack(2, unchecked((uint)-4)), Lo(m, 6));
        Assert.Equal(0UL, Hi(m, 6));
        Assert.Equal(Pack(2, unchecked((uint)-3)), Lo(m, 7));
        Assert.Equal(MxcsrBits.IE | MxcsrBits.PE, MxcsrFlags(m));
    }

    [Fact]
    public void MmxConversions()
    {
        using var m = Machine(a =>
        {
            a.cvtps2pi(mm1, xmm0);
            a.cvtpi2ps(xmm1, mm1);
            a.cvttpd2pi(mm2, xmm2);
            a.cvtpi2pd(xmm3, mm2);
        });
        SetXmm(m, 0, Pack(0x3fc0_0000, 0xc0a0_0000)); // 1.5, -5
        SetXmm(m, 1, 0, 77);
        SetXmm(m, 2, (ulong)BitConverter.DoubleToInt64Bits(-7.9), (ulong)BitConverter.DoubleToInt64Bits(8.2));
        m.Run();
        Assert.Equal(Pack(0x4000_0000, 0xc0a0_0000), Lo(m, 1)); // 2.0, -5.0
        Assert.Equal(77UL, Hi(m, 1));
        Assert.Equal((ulong)BitConverter.DoubleToInt64Bits(-7.0), Lo(m, 3));
        Assert.Equal((ulong)BitConverter.DoubleToInt64Bits(8.0), Hi(m, 3));
        Assert.Equal(Pack(2, unchecked((uint)-5)), m.Cpu.S.Fpr1.Mantissa);
        Assert.Equal(0xffff, m.Cpu.S.Fpr1.SignExponent);
        Assert.Equal(0, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(64)]
    public void MovssAndMovsdLoadStoreAndMerge(int bitness)
    {
        ulong data = bitness == 16 ? 0x800 : Data;
        using var m = Machine(
            a =>
            {
                if (bitness == 16)
                {
                    a.mov(bx, (ushort)data);
                    a.movss(xmm0, __dword_ptr[bx]);
                    a.movsd(xmm1, __qword_ptr[bx + 8]);
                    a.movsd(__qword_ptr[bx + 16], xmm1);
                    a.movss(__dword_ptr[bx + 24], xmm0);
                }
                else if (bitness == 32)
                {
                    a.mov(ebx, (uint)data);
                    a.movss(xmm0, __dword_ptr[ebx]);
                    a.movsd(xmm1, __qword_ptr[ebx + 8]);
                    a.movsd(__qword_ptr[ebx + 16], xmm1);
                    a.movss(__dword_ptr[ebx + 24], xmm0);
                }
                else
                {
                    a.mov(rbx, data);
                    a.movss(xmm0, __dword_ptr[rbx]);
                    a.movsd(xmm1, __qword_ptr[rbx + 8]);
                    a.movsd(__qword_ptr[rbx + 16], xmm1);
                    a.movss(__dword_ptr[rbx + 24], xmm0);
                }

                a.movss(xmm2, xmm0);
                a.movsd(xmm3, xmm1);
            },
            Masked,
            bitness);
        m.WriteMem(data, 0x1122_3344, 4);
        m.WriteMem(data + 8, 0x5566_7788_99aa_bbcc, 8);
        SetXmm(m, 0, ulong.MaxValue, ulong.MaxValue);
        SetXmm(m, 1, ulong.MaxValue, ulong.MaxValue);
        SetXmm(m, 2, ulong.MaxValue, 6);
        SetXmm(m, 3, 0, 7);
        m.Run();
        Assert.Equal(0x1122_3344UL, Lo(m, 0));
        Assert.Equal(0UL, Hi(m, 0));
        Assert.Equal(0x5566_7788_99aa_bbccUL, Lo(m, 1));
        Assert.Equal(0UL, Hi(m, 1));
        Assert.Equal(0x5566_7788_99aa_bbccUL, m.ReadMem(data + 16, 8));
        Assert.Equal(0x1122_3344UL, m.ReadMem(data + 24, 8));
        Assert.Equal(0xffff_ffff_1122_3344UL, Lo(m, 2));
        Assert.Equal(6UL, Hi(m, 2));
        Assert.Equal(0x5566_7788_99aa_bbccUL, Lo(m, 3));
        Assert.Equal(7UL, Hi(m, 3));
    }

    [Fact]
    public void LdmxcsrChangesRoundingAndStmxcsrReadsFlags()
    {
        // MXCSR = 0x3f80: all masked, round down. 1 + 2^-24 rounds to 1 without... and -1 - 2^-24 to the next below -1.
        using var m = Machine(a =>
        {
            a.mov(rax, Data);
            a.ldmxcsr(__dword_ptr[rax]);
            a.addss(xmm0, xmm1);
            a.stmxcsr(__dword_ptr[rax + 4]);
        });
        m.WriteMem(Data, 0x3f80, 4);
        SetXmm(m, 0, 0xbf80_0000);
        SetXmm(m, 1, 0xb380_0000);
        m.Run();
        Assert.Equal(0xbf80_0001UL, Lo(m, 0));
        Assert.Equal(0x3f80UL | MxcsrBits.PE, m.ReadMem(Data + 4, 4));
    }

    [Fact]
    public void LdmxcsrWithAReservedBitRaisesGp()
    {
        using var m = Machine(a =>
        {
            a.mov(rax, Data);
            a.ldmxcsr(__dword_ptr[rax]);
        });
        m.WriteMem(Data, 0x1_1f80, 4);
        Assert.Equal(Vector.GP, m.RunToException());
        Assert.Equal(Masked, m.Cpu.S.Mxcsr);
    }

    [Fact]
    public void PackedMemoryOperandsMustBeAligned()
    {
        using var m = Machine(a =>
        {
            a.mov(rax, Data + 4);
            a.addss(xmm0, __dword_ptr[rax]);
            a.addps(xmm0, __xmmword_ptr[rax]);
        });
        Assert.Equal(Vector.GP, m.RunToException());
    }

    [Fact]
    public void ReciprocalApproximationsAreWithinTheDocumentedError()
    {
        using var m = Machine(a =>
        {
            a.rcpps(xmm0, xmm1);
            a.rsqrtps(xmm2, xmm3);
        });
        SetXmm(m, 1, Pack(0x4040_0000, 0), Pack(0x8000_0000, 0x0000_0001)); // 3, +0, -0, denormal
        SetXmm(m, 3, Pack(0x4080_0000, 0xbf80_0000), Pack(0x7f80_0000, 0x4120_0000)); // 4, -1, +inf, 10
        m.Run();
        float r3 = BitConverter.UInt32BitsToSingle((uint)Lo(m, 0));
        Assert.True(Math.Abs((r3 * 3.0) - 1) <= 1.5 / 4096);
        Assert.Equal(0x7f80_0000UL, Lo(m, 0) >> 32);
        Assert.Equal(Pack(0xff80_0000, 0x7f80_0000), Hi(m, 0));
        float q4 = BitConverter.UInt32BitsToSingle((uint)Lo(m, 2));
        Assert.True(Math.Abs((q4 * 2.0) - 1) <= 1.5 / 4096);
        Assert.Equal(0xffc0_0000UL, Lo(m, 2) >> 32);
        Assert.Equal(0u, (uint)Hi(m, 2));
        float q10 = BitConverter.UInt32BitsToSingle((uint)(Hi(m, 2) >> 32));
        Assert.True(Math.Abs((q10 * Math.Sqrt(10)) - 1) <= 1.5 / 4096);
        Assert.Equal(0u, MxcsrFlags(m));
    }

    /// <summary>Random operands through the emulator, compared with the host's SSE unit in round-to-nearest (results only).</summary>
    [Fact]
    public void RandomProgramsMatchTheHost()
    {
        if (!Sse2.IsSupported)
        {
            return; // needs an x86 host
        }

        var r = new Random(2024);
        using var m = Machine(a =>
        {
            a.addps(xmm0, xmm1);
            a.mulpd(xmm2, xmm3);
            a.divss(xmm4, xmm5);
            a.sqrtpd(xmm6, xmm7);
            a.cvtps2dq(xmm8, xmm9);
            a.cmpps(xmm10, xmm11, 5);
            a.minpd(xmm12, xmm13);
            a.cvtsd2ss(xmm14, xmm15);
        });
        var regs = new Vector128<ulong>[16];
        for (int iter = 0; iter < 500; iter++)
        {
            for (int i = 0; i < 16; i++)
            {
                regs[i] = (i & 1) == 0 || i is 9 or 11
                    ? Vector128.Create(Pack(SoftFloatTests.RandomSingle(r), SoftFloatTests.RandomSingle(r)), Pack(SoftFloatTests.RandomSingle(r), SoftFloatTests.RandomSingle(r)))
                    : Vector128.Create(SoftFloatTests.RandomDouble(r), SoftFloatTests.RandomDouble(r));
                if (i is 1 or 3 or 5 or 11 or 13 && r.Next(3) == 0)
                {
                    regs[i] = regs[i - 1]; // equal operands: exact cancellation, equal compares
                }

                SetXmm(m, i, regs[i].GetElement(0), regs[i].GetElement(1));
            }

            m.Cpu.S.Rip = TestMachine.CodeAddress;
            m.Cpu.S.Mxcsr = Masked;
            m.Run();
            Expect(m, 0, Sse.Add(regs[0].AsSingle(), regs[1].AsSingle()).AsUInt64());
            Expect(m, 2, Sse2.Multiply(regs[2].AsDouble(), regs[3].AsDouble()).AsUInt64());
            Expect(m, 4, Sse.DivideScalar(regs[4].AsSingle(), regs[5].AsSingle()).AsUInt64());
            Expect(m, 6, Sse2.Sqrt(regs[7].AsDouble()).AsUInt64());
            Expect(m, 8, Sse2.ConvertToVector128Int32(regs[9].AsSingle()).AsUInt64());
            Expect(m, 10, Sse.CompareNotLessThan(regs[10].AsSingle(), regs[11].AsSingle()).AsUInt64());
            Expect(m, 12, Sse2.Min(regs[12].AsDouble(), regs[13].AsDouble()).AsUInt64());
            Expect(m, 14, Sse2.ConvertScalarToVector128Single(regs[14].AsSingle(), regs[15].AsDouble()).AsUInt64());
        }
    }

    private static void Expect(TestMachine m, int n, Vector128<ulong> host)
    {
        if (Lo(m, n) != host.GetElement(0) || Hi(m, n) != host.GetElement(1))
        {
            Assert.Fail($"xmm{n}: host {host.GetElement(1):x16}{host.GetElement(0):x16}, emulator {Hi(m, n):x16}{Lo(m, n):x16}");
        }
    }
}

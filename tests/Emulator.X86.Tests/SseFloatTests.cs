using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// SSE/SSE2 floating point through the whole CPU: hand-computed results and MXCSR flags for each
/// family, the four rounding modes, DAZ/FTZ, NaN rules and #XM. Expected bit patterns are worked
/// out from the SDM (values in comments).
/// </summary>
public unsafe class SseFloatTests
{
    internal const uint Masked = MxcsrBits.Default;

    // Singles.
    private const uint One = 0x3f80_0000;
    private const uint Two = 0x4000_0000;
    private const uint Half = 0x3f00_0000;
    private const uint PlusInf = 0x7f80_0000;
    private const uint MinusInf = 0xff80_0000;
    private const uint QNaN = 0x7fc0_0000;
    private const uint Indefinite = 0xffc0_0000;
    private const uint MaxSingle = 0x7f7f_ffff;
    private const uint MinNormal = 0x0080_0000;

    // Doubles.
    private const ulong OneD = 0x3ff0_0000_0000_0000;
    private const ulong IndefiniteD = 0xfff8_0000_0000_0000;

    internal static uint WithRc(IeeeRounding rc, uint mxcsr = Masked) => mxcsr | ((uint)rc << MxcsrBits.RoundingShift);

    internal static ulong Pack(uint lo, uint hi) => lo | ((ulong)hi << 32);

    internal static void SetXmm(TestMachine m, int n, ulong lo, ulong hi = 0)
    {
        m.Cpu.State->Xmm[2 * n] = lo;
        m.Cpu.State->Xmm[(2 * n) + 1] = hi;
    }

    internal static ulong Lo(TestMachine m, int n) => m.Cpu.State->Xmm[2 * n];

    internal static ulong Hi(TestMachine m, int n) => m.Cpu.State->Xmm[(2 * n) + 1];

    internal static uint MxcsrFlags(TestMachine m) => m.Cpu.S.Mxcsr & MxcsrBits.Flags;

    /// <summary>A 64-bit machine with xmm0 = (lo0, hi0), xmm1 = (lo1, hi1) and MXCSR set, after running <paramref name="code"/>.</summary>
    private static TestMachine Run(Action<Assembler> code, uint mxcsr, ulong lo0, ulong hi0, ulong lo1, ulong hi1 = 0, int bitness = 64)
    {
        var m = new TestMachine(bitness);
        m.Load(code, bitness == 16 ? 0x1000 : TestMachine.CodeAddress);
        m.Cpu.S.Mxcsr = mxcsr;
        SetXmm(m, 0, lo0, hi0);
        SetXmm(m, 1, lo1, hi1);
        m.Run();
        return m;
    }

    private static int RunToException(Action<Assembler> code, uint mxcsr, ulong lo0, ulong lo1, out TestMachine m)
    {
        m = new TestMachine();
        m.Load(code);
        m.Cpu.S.Mxcsr = mxcsr;
        SetXmm(m, 0, lo0, Pack(One, One));
        SetXmm(m, 1, lo1);
        return m.RunToException();
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(64)]
    public void AddssAddsTheLowElementAndKeepsTheRest(int bitness)
    {
        // 1.5 + 2.25 = 3.75, exact.
        using var m = Run(a => a.addss(xmm0, xmm1), Masked, Pack(0x3fc0_0000, 0x1111_1111), 0x3333_3333_2222_2222, Pack(0x4010_0000, 0xdead), 0xbeef, bitness);
        Assert.Equal(Pack(0x4070_0000, 0x1111_1111), Lo(m, 0));
        Assert.Equal(0x3333_3333_2222_2222UL, Hi(m, 0));
        Assert.Equal(0u, MxcsrFlags(m));
    }

    [Fact]
    public void PackedNaNsFollowTheFirstOperandAndInvalidGivesIndefinite()
    {
        // Lanes: QNaN + 1 -> the QNaN; 1 + SNaN -> that NaN made quiet; SNaN + QNaN -> the first, quiet; inf + -inf -> indefinite.
        using var m = Run(
            a => a.addps(xmm0, xmm1),
            Masked,
            Pack(0x7fc0_0001, One),
            Pack(0x7f80_0005, PlusInf),
            Pack(One, 0xff80_0007),
            Pack(0x7fc0_0009, MinusInf));
        Assert.Equal(Pack(0x7fc0_0001, 0xffc0_0007), Lo(m, 0));
        Assert.Equal(Pack(0x7fc0_0005, Indefinite), Hi(m, 0));
        Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, 0x3f80_0000u, 0xbf80_0000u, 0x3f80_0002u)]
    [InlineData(IeeeRounding.Down, 0x3f80_0000u, 0xbf80_0001u, 0x3f80_0001u)]
    [InlineData(IeeeRounding.Up, 0x3f80_0001u, 0xbf80_0000u, 0x3f80_0002u)]
    [InlineData(IeeeRounding.TowardZero, 0x3f80_0000u, 0xbf80_0000u, 0x3f80_0001u)]
    public void AddssRoundsTiesPerMode(IeeeRounding rc, uint positive, uint negative, uint oddTie)
    {
        // 1 + 2^-24 and -1 - 2^-24 lie halfway between 1 and 1 + 2^-23; (1 + 2^-23) + 2^-24 between odd and even neighbours.
        using var m = Run(
            a =>
            {
                a.addss(xmm0, xmm1);
                a.addss(xmm2, xmm3);
                a.addss(xmm4, xmm5);
            },
            WithRc(rc),
            One,
            0,
            0x3380_0000);
        SetXmm(m, 2, 0xbf80_0000);
        SetXmm(m, 3, 0xb380_0000);
        SetXmm(m, 4, 0x3f80_0001);
        SetXmm(m, 5, 0x3380_0000);
        SetXmm(m, 0, One);
        m.Cpu.S.Rip = TestMachine.CodeAddress;
        m.Cpu.S.Mxcsr = WithRc(rc);
        m.Run();
        Assert.Equal(positive, (uint)Lo(m, 0));
        Assert.Equal(negative, (uint)Lo(m, 2));
        Assert.Equal(oddTie, (uint)Lo(m, 4));
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, 0x3ff0_0000_0000_0002UL)]
    [InlineData(IeeeRounding.Down, 0x3ff0_0000_0000_0001UL)]
    [InlineData(IeeeRounding.Up, 0x3ff0_0000_0000_0002UL)]
    [InlineData(IeeeRounding.TowardZero, 0x3ff0_0000_0000_0001UL)]
    public void AddsdRoundsPerMode(IeeeRounding rc, ulong expected)
    {
        // 1 + 1.5 ulp (3 * 2^-53).
        using var m = Run(a => a.addsd(xmm0, xmm1), WithRc(rc), OneD, 7, 0x3cb8_0000_0000_0000);
        Assert.Equal(expected, Lo(m, 0));
        Assert.Equal(7UL, Hi(m, 0));
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, PlusInf, MinusInf)]
    [InlineData(IeeeRounding.Down, MaxSingle, MinusInf)]
    [InlineData(IeeeRounding.Up, PlusInf, 0xff7f_ffffu)]
    [InlineData(IeeeRounding.TowardZero, MaxSingle, 0xff7f_ffffu)]
    public void MulpsOverflowDependsOnRoundingMode(IeeeRounding rc, uint positive, uint negative)
    {
        using var m = Run(a => a.mulps(xmm0, xmm1), WithRc(rc), Pack(MaxSingle, 0xff7f_ffff), 0, Pack(Two, Two), Pack(One, One));
        Assert.Equal(Pack(positive, negative), Lo(m, 0));
        Assert.Equal(MxcsrBits.OE | MxcsrBits.PE, MxcsrFlags(m));
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, false, 0x0080_0000u, MxcsrBits.PE)]
    [InlineData(IeeeRounding.TowardZero, false, 0x007f_ffffu, MxcsrBits.UE | MxcsrBits.PE)]
    [InlineData(IeeeRounding.Nearest, true, 0x0080_0000u, MxcsrBits.PE)]
    [InlineData(IeeeRounding.TowardZero, true, 0u, MxcsrBits.UE | MxcsrBits.PE)]
    public void TininessIsDetectedAfterRounding(IeeeRounding rc, bool ftz, uint expected, uint flags)
    {
        // 2^-126 (1 + 2^-23) * (1 - 2^-23) = 2^-126 (1 - 2^-46): below 2^-126, but rounds up to it
        // at full precision in nearest mode, so it is not tiny there (SDM Vol. 1 4.9.1.5).
        uint mxcsr = WithRc(rc) | (ftz ? MxcsrBits.Ftz : 0);
        using var m = Run(a => a.mulss(xmm0, xmm1), mxcsr, 0x0080_0001, 0, 0x3f7f_fffe);
        Assert.Equal(expected, (uint)Lo(m, 0));
        Assert.Equal(flags, MxcsrFlags(m));
    }

    [Fact]
    public void UnderflowFlagsAndFlushToZero()
    {
        // 2^-126 * 0.5 = 2^-127 exactly: a denormal but exact, so no UE while masked.
        using (var m = Run(a => a.mulss(xmm0, xmm1), Masked, MinNormal, 0, Half))
        {
            Assert.Equal(0x0040_0000UL, Lo(m, 0));
            Assert.Equal(0u, MxcsrFlags(m));
        }

        // FTZ flushes it to +0 and reports underflow and inexact.
        using (var m = Run(a => a.mulss(xmm0, xmm1), Masked | MxcsrBits.Ftz, MinNormal, 0, Half))
        {
            Assert.Equal(0UL, Lo(m, 0));
            Assert.Equal(MxcsrBits.UE | MxcsrBits.PE, MxcsrFlags(m));
        }

        // 2^-126 (1 + 2^-23) * 0.5 = 2^-127 + 2^-150: halfway between denormals 0x400000 and 0x400001.
        using (var m = Run(a => a.mulss(xmm0, xmm1), Masked, 0x0080_0001, 0, Half))
        {
            Assert.Equal(0x0040_0000UL, Lo(m, 0));
            Assert.Equal(MxcsrBits.UE | MxcsrBits.PE, MxcsrFlags(m));
        }

        using (var m = Run(a => a.mulss(xmm0, xmm1), WithRc(IeeeRounding.Up), 0x0080_0001, 0, Half))
        {
            Assert.Equal(0x0040_0001UL, Lo(m, 0));
        }

        // Unmasked underflow is reported even for the exact denormal, and the destination keeps its value.
        uint unmasked = Masked & ~(MxcsrBits.UE << MxcsrBits.MaskShift);
        Assert.Equal(Vector.XM, RunToException(a => a.mulss(xmm0, xmm1), unmasked, MinNormal, Half, out var u));
        using (u)
        {
            Assert.Equal((ulong)MinNormal, Lo(u, 0));
            Assert.Equal(MxcsrBits.UE, MxcsrFlags(u));
        }
    }

    [Fact]
    public void DivideByZeroAndInvalidDivisions()
    {
        // 1/0 = +inf (ZE); -1/+0 = -inf; 0/0 = indefinite (IE); inf/2 = inf (no flag).
        using var m = Run(a => a.divps(xmm0, xmm1), Masked, Pack(One, 0xbf80_0000), Pack(0, PlusInf), Pack(0, 0), Pack(0, Two));
        Assert.Equal(Pack(PlusInf, MinusInf), Lo(m, 0));
        Assert.Equal(Pack(Indefinite, PlusInf), Hi(m, 0));
        Assert.Equal(MxcsrBits.ZE | MxcsrBits.IE, MxcsrFlags(m));
    }

    [Fact]
    public void UnmaskedExceptionRaisesXmWithoutWritingTheDestination()
    {
        uint unmasked = Masked & ~(MxcsrBits.ZE << MxcsrBits.MaskShift);
        Assert.Equal(Vector.XM, RunToException(a => a.divsd(xmm0, xmm1), unmasked, OneD, 0, out var m));
        using (m)
        {
            Assert.Equal(OneD, Lo(m, 0));
            Assert.Equal(Pack(One, One), Hi(m, 0));
            Assert.Equal(MxcsrBits.ZE, MxcsrFlags(m));
            Assert.Equal(TestMachine.CodeAddress, m.Cpu.S.Rip);
        }

        // Without CR4.OSXMMEXCPT the same condition is #UD (SDM Vol. 3A 6.15, interrupt 19).
        using var u = new TestMachine();
        u.Load(a => a.divsd(xmm0, xmm1));
        u.Cpu.S.Cr4 &= ~(1UL << 10);
        u.Cpu.S.Mxcsr = unmasked;
        SetXmm(u, 0, OneD);
        Assert.Equal(Vector.UD, u.RunToException());
    }

    [Fact]
    public void PreComputationExceptionsHidePostComputationOnes()
    {
        // Lane 0: 1 + denormal (DE, then PE); lane 1: 1 + 2^-24 (PE). DE unmasked: only DE is recorded.
        uint unmasked = Masked & ~(MxcsrBits.DE << MxcsrBits.MaskShift);
        Assert.Equal(Vector.XM, RunToException(a => a.addps(xmm0, xmm1), unmasked, Pack(One, One), Pack(1, 0x3380_0000), out var m));
        using (m)
        {
            Assert.Equal(MxcsrBits.DE, MxcsrFlags(m));
            Assert.Equal(Pack(One, One), Lo(m, 0));
        }

        // Precision unmasked: #XM with PE, destination unchanged.
        uint precision = Masked & ~(MxcsrBits.PE << MxcsrBits.MaskShift);
        Assert.Equal(Vector.XM, RunToException(a => a.addps(xmm0, xmm1), precision, Pack(One, One), Pack(0x3380_0000, 0), out var p));
        using (p)
        {
            Assert.Equal(MxcsrBits.PE, MxcsrFlags(p));
            Assert.Equal(Pack(One, One), Lo(p, 0));
        }
    }

    [Fact]
    public void DenormalOperandsAndDaz()
    {
        // 1 + 2^-149: DE, and inexact.
        using (var m = Run(a => a.addss(xmm0, xmm1), Masked, One, 0, 1))
        {
            Assert.Equal((ulong)One, Lo(m, 0));
            Assert.Equal(MxcsrBits.DE | MxcsrBits.PE, MxcsrFlags(m));
        }

        // DAZ: the denormal is +0, nothing is reported.
        using (var m = Run(a => a.addss(xmm0, xmm1), Masked | MxcsrBits.Daz, One, 0, 1))
        {
            Assert.Equal((ulong)One, Lo(m, 0));
            Assert.Equal(0u, MxcsrFlags(m));
        }

        // DAZ applies to compares: -denormal == +0.
        using (var m = Run(a => a.cmpss(xmm0, xmm1, 0), Masked | MxcsrBits.Daz, 0x8000_0001, 0, 0))
        {
            Assert.Equal(0xffff_ffffUL, Lo(m, 0));
        }
    }

    [Theory]
    [InlineData(IeeeRounding.Nearest, 0x3ff6_a09e_667f_3bcdUL)]
    [InlineData(IeeeRounding.Down, 0x3ff6_a09e_667f_3bccUL)]
    [InlineData(IeeeRounding.Up, 0x3ff6_a09e_667f_3bcdUL)]
    [InlineData(IeeeRounding.TowardZero, 0x3ff6_a09e_667f_3bccUL)]
    public void SqrtsdRoundsPerMode(IeeeRounding rc, ulong expected)
    {
        // sqrt(2) = 1.41421356237309504880..., between 0x3FF6A09E667F3BCC and ...BCD (1.41421356237309514547).
        using var m = Run(a => a.sqrtsd(xmm0, xmm1), WithRc(rc), 0, 9, 0x4000_0000_0000_0000);
        Assert.Equal(expected, Lo(m, 0));
        Assert.Equal(9UL, Hi(m, 0));
        Assert.Equal(MxcsrBits.PE, MxcsrFlags(m));
    }

    [Fact]
    public void SqrtOfNegativeIsInvalidButMinusZeroIsItself()
    {
        using var m = Run(a => a.sqrtpd(xmm0, xmm1), Masked, 0, 0, 0xbff0_0000_0000_0000, 0x8000_0000_0000_0000);
        Assert.Equal(IndefiniteD, Lo(m, 0));
        Assert.Equal(0x8000_0000_0000_0000UL, Hi(m, 0));
        Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));
    }

    [Fact]
    public void MinAndMaxReturnTheSecondOperandForNaNsAndZeros()
    {
        // min(QNaN, 1) = 1; min(1, QNaN) = QNaN; min(+0, -0) = -0; min(-0, +0) = +0. Any NaN is invalid.
        using (var m = Run(a => a.minps(xmm0, xmm1), Masked, Pack(QNaN, One), Pack(0, 0x8000_0000), Pack(One, QNaN), Pack(0x8000_0000, 0)))
        {
            Assert.Equal(Pack(One, QNaN), Lo(m, 0));
            Assert.Equal(Pack(0x8000_0000, 0), Hi(m, 0));
            Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));
        }

        // max(1, SNaN) returns the SNaN unchanged.
        using (var m = Run(a => a.maxsd(xmm0, xmm1), Masked, OneD, 0, 0x7ff0_0000_0000_0001))
        {
            Assert.Equal(0x7ff0_0000_0000_0001UL, Lo(m, 0));
            Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));
        }

        using (var m = Run(a => a.maxps(xmm0, xmm1), Masked, Pack(One, 0xc000_0000), Pack(Two, 0x8000_0000), Pack(Two, 0xbf80_0000), Pack(One, 0)))
        {
            Assert.Equal(Pack(Two, 0xbf80_0000), Lo(m, 0));
            Assert.Equal(Pack(Two, 0), Hi(m, 0));
            Assert.Equal(0u, MxcsrFlags(m));
        }
    }

    [Theory]
    [InlineData(0, 0b0010, false)]
    [InlineData(1, 0b0001, true)]
    [InlineData(2, 0b0011, true)]
    [InlineData(3, 0b0100, false)]
    [InlineData(4, 0b1101, false)]
    [InlineData(5, 0b1110, true)]
    [InlineData(6, 0b1100, true)]
    [InlineData(7, 0b1011, false)]
    public void CmppsPredicates(int predicate, int lanes, bool invalid)
    {
        // Lanes compare as less, equal, unordered (QNaN), greater.
        using var m = Run(a => a.cmpps(xmm0, xmm1, (byte)predicate), Masked, Pack(One, Two), Pack(QNaN, Two), Pack(Two, Two), Pack(One, One));
        uint Lane(int i) => ((lanes >> i) & 1) != 0 ? 0xffff_ffffu : 0;
        Assert.Equal(Pack(Lane(0), Lane(1)), Lo(m, 0));
        Assert.Equal(Pack(Lane(2), Lane(3)), Hi(m, 0));
        Assert.Equal(invalid ? MxcsrBits.IE : 0, MxcsrFlags(m));
    }

    [Fact]
    public void CmpsdIsTheSse2FormAndSignalingNaNsAreInvalidForEveryPredicate()
    {
        // cmpsd xmm0, xmm1, EQ with an SNaN: false, IE; the high double is kept.
        using var m = Run(a => a.cmpsd(xmm0, xmm1, 0), Masked, 0x7ff0_0000_0000_0001, 3, OneD);
        Assert.Equal(0UL, Lo(m, 0));
        Assert.Equal(3UL, Hi(m, 0));
        Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));

        using var n = Run(a => a.cmppd(xmm0, xmm1, 2), Masked, OneD, 0x4000_0000_0000_0000, OneD, OneD);
        Assert.Equal(ulong.MaxValue, Lo(n, 0));
        Assert.Equal(0UL, Hi(n, 0));
    }

    [Theory]
    [InlineData(One, Two, false, false, true, 0u)]
    [InlineData(Two, Two, true, false, false, 0u)]
    [InlineData(Two, One, false, false, false, 0u)]
    [InlineData(QNaN, One, true, true, true, 0u)]
    [InlineData(One, 0x7f80_0001u, true, true, true, MxcsrBits.IE)]
    public void UcomissSetsZfPfCf(uint x, uint y, bool zf, bool pf, bool cf, uint flags)
    {
        // mov eax, 0x7fffffff; add eax, 1 sets OF, SF and AF first: UCOMISS clears them.
        using var m = Run(
            a =>
            {
                a.mov(eax, 0x7fff_ffff);
                a.add(eax, 1);
                a.ucomiss(xmm0, xmm1);
            },
            Masked,
            x,
            0,
            y);
        Assert.Equal(zf, m.Flag(RFlags.ZF));
        Assert.Equal(pf, m.Flag(RFlags.PF));
        Assert.Equal(cf, m.Flag(RFlags.CF));
        Assert.False(m.Flag(RFlags.OF));
        Assert.False(m.Flag(RFlags.SF));
        Assert.False(m.Flag(RFlags.AF));
        Assert.Equal(flags, MxcsrFlags(m));
    }

    [Fact]
    public void ComisSignalsOnQuietNaNs()
    {
        using (var m = Run(a => a.comiss(xmm0, xmm1), Masked, QNaN, 0, One))
        {
            Assert.True(m.Flag(RFlags.ZF) && m.Flag(RFlags.PF) && m.Flag(RFlags.CF));
            Assert.Equal(MxcsrBits.IE, MxcsrFlags(m));
        }

        using (var m = Run(a => a.comisd(xmm0, xmm1), Masked, 0xbff0_0000_0000_0000, 0, OneD))
        {
            Assert.True(m.Flag(RFlags.CF));
            Assert.False(m.Flag(RFlags.ZF));
            Assert.Equal(0u, MxcsrFlags(m));
        }

        // An unmasked invalid leaves RFLAGS as they were.
        uint unmasked = Masked & ~MxcsrBits.IE << MxcsrBits.MaskShift;
        Assert.Equal(Vector.XM, RunToException(
            a =>
            {
                a.xor(eax, eax);
                a.comiss(xmm0, xmm1);
            },
            unmasked,
            QNaN,
            One,
            out var u));
        using (u)
        {
            Assert.True(u.Flag(RFlags.ZF));
            Assert.False(u.Flag(RFlags.CF));
        }
    }
}

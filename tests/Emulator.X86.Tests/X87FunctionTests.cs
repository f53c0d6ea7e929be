using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Emulator.X86.Tests.X87Tests;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>x87 functions of ST(0)/ST(1), constants, FXAM/FTST classes, FCMOVcc, and 16-bit code.</summary>
public class X87FunctionTests
{
    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void SqrtChsAbsScaleExtract(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Qw(bits, 0));      // 2.25
            a.fsqrt();
            a.fchs();
            a.fst(Qw(bits, 0x100));  // -1.5
            a.fabs();
            a.fld(Qw(bits, 8));      // 3.7
            a.fxch(st0, st1);
            a.fscale();              // 1.5 * 2^3
            a.fst(Qw(bits, 0x108));
            a.fxtract();             // ST0 = 1.5, ST1 = 3
            a.fstp(Qw(bits, 0x110));
            a.fstp(Qw(bits, 0x118));
            a.fstp(st0);
        }, m =>
        {
            m.WriteMem(Data, 0x4002_0000_0000_0000, 8);
            m.WriteMem(Data + 8, 0x400D_9999_9999_999A, 8);
        });
        Assert.Equal(0xBFF8_0000_0000_0000UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x4028_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal(0x3FF8_0000_0000_0000UL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0x4008_0000_0000_0000UL, m.ReadMem(Data + 0x118, 8));
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(32, false, 10, 3, 1L, C3 | C1)]  // 10 = 3*3 + 1, quotient 011
    [InlineData(64, true, 11, 3, -1L, C0)]       // 11 = 4*3 - 1, quotient 100
    [InlineData(64, false, -7, 2, -1L, C3 | C1)] // -7 = -3*2 - 1, quotient 011
    [InlineData(32, true, 5, 2, 1L, C3)]         // 5 = 2*2 + 1 (tie to even quotient 2)
    public void PremAndPrem1(int bits, bool ieee, int x, int y, long remainder, int codes)
    {
        using var m = Run(bits, a =>
        {
            a.fild(Dw(bits, 4));
            a.fild(Dw(bits, 0));
            if (ieee)
            {
                a.fprem1();
            }
            else
            {
                a.fprem();
            }

            a.fnstsw(W(bits, 0x100));
            a.fistp(Qw(bits, 0x108));
        }, m =>
        {
            m.WriteMem(Data, (ulong)(uint)x, 4);
            m.WriteMem(Data + 4, (ulong)(uint)y, 4);
        });
        Assert.Equal((ulong)codes, m.ReadMem(Data + 0x100, 2) & 0x4700);
        Assert.Equal((ulong)remainder, m.ReadMem(Data + 0x108, 8));
    }

    [Fact]
    public void PremLoopsOverPartialRemainders()
    {
        using var m = Run(32, a =>
        {
            var again = a.CreateLabel();
            a.fild(Dw(32, 8));        // 3
            a.fld(Qw(32, 0));         // 2^100
            a.xor(ecx, ecx);
            a.Label(ref again);
            a.inc(ecx);
            a.fprem();
            a.fnstsw(ax);
            a.test(ax, 0x400);
            a.jnz(again);
            a.fistp(Dw(32, 0x100));
        }, m =>
        {
            m.WriteMem(Data, 0x4630_0000_0000_0000, 8);
            m.WriteMem(Data + 8, 3, 4);
        });
        Assert.Equal(1UL, m.ReadMem(Data + 0x100, 4)); // 2^100 = 4^50 = 1 (mod 3)
        Assert.True(m[Gpr.Rcx] > 1, "an exponent difference of 99 needs more than one FPREM");
    }

    [Theory]
    [InlineData(0x3FF8_0000_0000_0000UL, C2)]           // normal
    [InlineData(0x8000_0000_0000_0000UL, C3 | C1)]      // -0
    [InlineData(0x7FF0_0000_0000_0000UL, C2 | C0)]      // +inf
    [InlineData(0xFFF8_0000_0000_0000UL, C0 | C1)]      // -NaN
    [InlineData(0x0000_0000_0000_0001UL, C2)]           // a double denormal is normal as an 80-bit value
    public void FxamClassifies(ulong value, int codes)
    {
        using var m = Run(64, a =>
        {
            a.fld(Qw(64, 0));
            a.fxam();
            a.fnstsw(W(64, 0x100));
        }, m => m.WriteMem(Data, value, 8));
        Assert.Equal((ulong)codes, m.ReadMem(Data + 0x100, 2) & 0x4700);
    }

    [Fact]
    public void FxamOfEmptyAndDenormalAndFtst()
    {
        using var m = Run(32, a =>
        {
            a.fxam();                 // empty
            a.fnstsw(W(32, 0x100));
            a.fld(Tw(32, 0));         // 80-bit denormal
            a.fxam();
            a.fnstsw(W(32, 0x102));
            a.fld(Qw(32, 16));        // -1.5
            a.ftst();
            a.fnstsw(W(32, 0x104));
            a.fldz();
            a.ftst();
            a.fnstsw(W(32, 0x106));
        }, m =>
        {
            Put80(m, 0, 1, 0);
            m.WriteMem(Data + 16, 0xBFF8_0000_0000_0000, 8);
        });
        Assert.Equal((ulong)(C3 | C0), m.ReadMem(Data + 0x100, 2) & (0x4700 & ~(ulong)C1));
        Assert.Equal((ulong)(C3 | C2), m.ReadMem(Data + 0x102, 2) & 0x4700);
        Assert.Equal((ulong)C0, m.ReadMem(Data + 0x104, 2) & 0x4700);
        Assert.Equal((ulong)C3, m.ReadMem(Data + 0x106, 2) & 0x4700);
        Assert.Equal(0, Fsw(m) & IE);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void TranscendentalFunctions(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fldz();
            a.fsin();
            a.fstp(Qw(bits, 0x100));  // 0
            a.fldz();
            a.fcos();
            a.fstp(Qw(bits, 0x108));  // 1
            a.fldz();
            a.fptan();                // ST0 = 1, ST1 = tan 0
            a.fstp(Qw(bits, 0x110));
            a.fstp(Qw(bits, 0x118));
            a.fld1();
            a.fld1();
            a.fpatan();               // atan2(1, 1)
            a.fstp(Qw(bits, 0x120));
            a.fild(Dw(bits, 0));      // y = 3
            a.fild(Dw(bits, 4));      // x = 8
            a.fyl2x();                // 3 * log2 8
            a.fstp(Qw(bits, 0x128));
            a.fild(Dw(bits, 8));      // y = 2
            a.fld1();                 // x = 1
            a.fyl2xp1();              // 2 * log2 2
            a.fstp(Qw(bits, 0x130));
            a.fld1();
            a.f2xm1();                // 2^1 - 1
            a.fstp(Qw(bits, 0x138));
            a.fld(Tw(bits, 16));      // 2^63: out of range
            a.fsin();
            a.fnstsw(W(bits, 0x140));
            a.fstp(Tw(bits, 0x150));
        }, m =>
        {
            m.WriteMem(Data, 3, 4);
            m.WriteMem(Data + 4, 8, 4);
            m.WriteMem(Data + 8, 2, 4);
            Put80(m, 16, 0x8000_0000_0000_0000, 16383 + 63);
        });
        Assert.Equal(0UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x3FF0_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal(0x3FF0_0000_0000_0000UL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0UL, m.ReadMem(Data + 0x118, 8));
        Assert.Equal(0x3FE9_21FB_5444_2D18UL, m.ReadMem(Data + 0x120, 8)); // pi/4
        Assert.Equal(0x4022_0000_0000_0000UL, m.ReadMem(Data + 0x128, 8)); // 9
        Assert.Equal(0x4000_0000_0000_0000UL, m.ReadMem(Data + 0x130, 8)); // 2
        Assert.Equal(0x3FF0_0000_0000_0000UL, m.ReadMem(Data + 0x138, 8)); // 1
        Assert.Equal((ulong)C2, m.ReadMem(Data + 0x140, 2) & C2);
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(Data + 0x150, 8));
        Assert.Equal(16383UL + 63, m.ReadMem(Data + 0x158, 2));
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(Nearest, 0xC90F_DAA2_2168_C235UL, 0xB8AA_3B29_5C17_F0BCUL, 0xD49A_784B_CD1B_8AFEUL)]
    [InlineData(Down, 0xC90F_DAA2_2168_C234UL, 0xB8AA_3B29_5C17_F0BBUL, 0xD49A_784B_CD1B_8AFEUL)]
    [InlineData(Up, 0xC90F_DAA2_2168_C235UL, 0xB8AA_3B29_5C17_F0BCUL, 0xD49A_784B_CD1B_8AFFUL)]
    public void ConstantsRoundByControlWord(int fcw, ulong pi, ulong l2e, ulong l2t)
    {
        using var m = Run(64, a =>
        {
            a.fldcw(W(64, 0));
            a.fldpi();
            a.fstp(Tw(64, 0x100));
            a.fldl2e();
            a.fstp(Tw(64, 0x110));
            a.fldl2t();
            a.fstp(Tw(64, 0x120));
            a.fldlg2();
            a.fstp(Tw(64, 0x130));
            a.fldln2();
            a.fstp(Tw(64, 0x140));
            a.fld1();
            a.fstp(Tw(64, 0x150));
            a.fldz();
            a.fstp(Tw(64, 0x160));
        }, m => m.WriteMem(Data, (ulong)fcw, 2));
        Assert.Equal(pi, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x4000UL, m.ReadMem(Data + 0x108, 2));
        Assert.Equal(l2e, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0x3FFFUL, m.ReadMem(Data + 0x118, 2));
        Assert.Equal(l2t, m.ReadMem(Data + 0x120, 8));
        Assert.Equal(0x4000UL, m.ReadMem(Data + 0x128, 2));
        Assert.Equal(fcw == Down ? 0x9A20_9A84_FBCF_F798UL : 0x9A20_9A84_FBCF_F799UL, m.ReadMem(Data + 0x130, 8));
        Assert.Equal(0x3FFDUL, m.ReadMem(Data + 0x138, 2));
        Assert.Equal(fcw == Down ? 0xB172_17F7_D1CF_79ABUL : 0xB172_17F7_D1CF_79ACUL, m.ReadMem(Data + 0x140, 8));
        Assert.Equal(0x3FFEUL, m.ReadMem(Data + 0x148, 2));
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(Data + 0x150, 8));
        Assert.Equal(0x3FFFUL, m.ReadMem(Data + 0x158, 2));
        Assert.Equal(0UL, m.ReadMem(Data + 0x160, 8));
        Assert.Equal(0UL, m.ReadMem(Data + 0x168, 2));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void FcmovMovesOnlyWhenTheConditionHolds(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld1();
            a.fldz();                 // ST0 = 0, ST1 = 1
            a.mov(eax, 1);
            a.cmp(eax, 2);            // below, not equal
            a.fcmove(st0, st1);       // not taken
            a.fst(Qw(bits, 0x100));
            a.fcmovb(st0, st1);       // taken
            a.fst(Qw(bits, 0x108));
            a.fldz();
            a.fcmovnbe(st0, st1);     // not taken
            a.fstp(Qw(bits, 0x110));
        });
        Assert.Equal(0UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x3FF0_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal(0UL, m.ReadMem(Data + 0x110, 8));
    }

    [Fact]
    public void WorksIn16BitCodeWithThe14ByteEnvironment()
    {
        using var m = new TestMachine(16);
        m.WriteMem(0x4000, 0x3FF8_0000_0000_0000, 8);
        m.WriteMem(0x4030, 0x0372, 2); // IE, ZE and OE unmasked
        m.Load(a =>
        {
            a.mov(bx, 0x4000);
            a.fninit();
            a.fldcw(__word_ptr[bx + 0x30]);
            a.fld(__qword_ptr[bx]);
            a.fadd(st0, st0);
            a.fist(__word_ptr[bx + 8]);
            a.fnstsw(ax);
            a.fnstenv(__[bx + 0x10]);
        }, 0x1000).Run();
        Assert.Equal(3UL, m.ReadMem(0x4008, 2));
        Assert.Equal(7UL << 11, m[Gpr.Rax] & 0xFFFF); // 1.5 + 1.5 is exact: no PE
        Assert.Equal(0x0372UL, m.ReadMem(0x4010, 2));  // FCW
        Assert.Equal(7UL << 11, m.ReadMem(0x4012, 2)); // FSW
        Assert.Equal(0x3FFFUL, m.ReadMem(0x4014, 2));  // FTW: R7 valid
        Assert.Equal(0x4008UL, m.ReadMem(0x401A, 2));  // FDP: the FIST operand
        Assert.Equal(0x037F, m.Cpu.S.Fcw); // FNSTENV masks all exceptions
    }

    [Theory]
    [InlineData(1, 10, 0xD49A_784B_CD1B_8AFEUL, 0x4000)] // log2 10
    [InlineData(1, 3, 0xCAE0_0D1C_FDEB_43D0UL, 0x3FFF)]  // log2 3
    [InlineData(-2, 8, 0xC000_0000_0000_0000UL, 0xC001)] // -2 * 3, exact
    public void Fyl2xIsAccurateTo64Bits(int y, int x, ulong mantissa, int signExp)
    {
        using var m = Run(64, a =>
        {
            a.fild(Dw(64, 0));
            a.fild(Dw(64, 4));
            a.fyl2x();
            a.fstp(Tw(64, 0x100));
        }, m =>
        {
            m.WriteMem(Data, (ulong)(uint)y, 4);
            m.WriteMem(Data + 4, (ulong)(uint)x, 4);
        });
        Assert.Equal(mantissa, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)signExp, m.ReadMem(Data + 0x108, 2));
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
    }

    [Fact]
    public void Fyl2xOfALargeProductStaysWithinAnUlp()
    {
        // pow(10, 300) on i386 glibc starts from 300 * log2(10) = 996.578...: 0xF92504F8D45C46E2 * 2^(9-63) to nearest.
        using var m = Run(32, a =>
        {
            a.fild(Dw(32, 0));
            a.fild(Dw(32, 4));
            a.fyl2x();
            a.fstp(Tw(32, 0x100));
        }, m =>
        {
            m.WriteMem(Data, 300, 4);
            m.WriteMem(Data + 4, 10, 4);
        });
        long diff = (long)(m.ReadMem(Data + 0x100, 8) - 0xF925_04F8_D45C_46E2UL);
        Assert.InRange(diff, -1, 1);
        Assert.Equal(0x4008UL, m.ReadMem(Data + 0x108, 2));
    }

    [Theory]
    [InlineData(0x3F50_0000_0000_0000UL, 0xB893_29BA_1FA2_A0FDUL, 0x3FF5)] // log2(1 + 2^-10)
    [InlineData(0xBFD0_0000_0000_0000UL, 0xD47F_CB8C_0852_F0C1UL, 0xBFFD)] // log2(0.75)
    public void Fyl2xp1IsAccurateTo64Bits(ulong xDouble, ulong mantissa, int signExp)
    {
        using var m = Run(64, a =>
        {
            a.fld1();                 // y = 1
            a.fld(Qw(64, 0));
            a.fyl2xp1();
            a.fstp(Tw(64, 0x100));
        }, m => m.WriteMem(Data, xDouble, 8));
        Assert.Equal(mantissa, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)signExp, m.ReadMem(Data + 0x108, 2));
    }

    [Theory]
    [InlineData(0x3FE0_0000_0000_0000UL, 0xD413_CCCF_E779_9211UL, 0x3FFD)] // 2^0.5 - 1
    [InlineData(0x3FE8_0000_0000_0000UL, 0xAE89_F995_AD3A_D5E8UL, 0x3FFE)] // 2^0.75 - 1
    [InlineData(0xBEB0_0000_0000_0000UL, 0xB172_141F_DA1D_BED7UL, 0xBFEA)] // 2^(-2^-20) - 1
    [InlineData(0xBFF0_0000_0000_0000UL, 0x8000_0000_0000_0000UL, 0xBFFE)] // 2^-1 - 1 = -0.5
    public void F2xm1IsAccurateTo64Bits(ulong xDouble, ulong mantissa, int signExp)
    {
        using var m = Run(32, a =>
        {
            a.fld(Qw(32, 0));
            a.f2xm1();
            a.fstp(Tw(32, 0x100));
        }, m => m.WriteMem(Data, xDouble, 8));
        Assert.Equal(mantissa, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)signExp, m.ReadMem(Data + 0x108, 2));
    }

    [Fact]
    public void LogarithmSpecialOperands()
    {
        using var m = Run(64, a =>
        {
            a.fld1();
            a.fldz();
            a.fyl2x();               // 1 * log2(0): -inf, ZE
            a.fstp(Qw(64, 0x100));
            a.fnstsw(W(64, 0x140));
            a.fnclex();
            a.fld1();
            a.fld1();
            a.fchs();
            a.fyl2x();               // log2(-1): invalid
            a.fstp(Qw(64, 0x108));
            a.fnstsw(W(64, 0x142));
        });
        Assert.Equal(0xFFF0_0000_0000_0000UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)ZE, m.ReadMem(Data + 0x140, 2) & 0x7F);
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal((ulong)IE, m.ReadMem(Data + 0x142, 2) & 0x7F);
    }

    [Theory]
    [InlineData(1, 0xD76A_A478_4867_7021UL, 0x3FFE, 0x8A51_407D_A834_5C92UL, 0x3FFE)]   // sin 1, cos 1
    [InlineData(100, 0x81A1_2DBC_626D_C038UL, 0xBFFE, 0UL, 0)]                         // sin 100
    public void SinAndCosAreAccurateTo64Bits(int x, ulong sinMantissa, int sinExp, ulong cosMantissa, int cosExp)
    {
        using var m = Run(64, a =>
        {
            a.fild(Dw(64, 0));
            a.fsincos();              // ST0 = cos, ST1 = sin
            a.fstp(Tw(64, 0x110));
            a.fstp(Tw(64, 0x100));
            a.fild(Dw(64, 0));
            a.fsin();
            a.fstp(Tw(64, 0x120));
        }, m => m.WriteMem(Data, (ulong)x, 4));
        Assert.Equal(sinMantissa, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)sinExp, m.ReadMem(Data + 0x108, 2));
        Assert.Equal(sinMantissa, m.ReadMem(Data + 0x120, 8));
        if (cosExp != 0)
        {
            Assert.Equal(cosMantissa, m.ReadMem(Data + 0x110, 8));
            Assert.Equal((ulong)cosExp, m.ReadMem(Data + 0x118, 2));
        }

        Assert.Equal(0, Fsw(m) & C2);
    }

    [Fact]
    public void TangentIsAccurateTo64Bits()
    {
        using var m = Run(32, a =>
        {
            a.fld1();
            a.fptan();
            a.fstp(st0);              // the 1.0 FPTAN pushes
            a.fstp(Tw(32, 0x100));
        });
        Assert.Equal(0xC759_22E5_F71D_2DC5UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x3FFFUL, m.ReadMem(Data + 0x108, 2));
    }

    [Theory]
    [InlineData(1, 3, 0xA4BC_7D19_34F7_0924UL, 0x3FFD)]   // atan(1/3)
    [InlineData(1, -2, 0xAB63_739C_BFAD_72CCUL, 0x4000)]  // pi - atan(1/2)
    [InlineData(-3, 1, 0x9FE0_BB5B_D42A_FFECUL, 0xBFFF)]  // -atan 3
    [InlineData(1, 0, 0xC90F_DAA2_2168_C235UL, 0x3FFF)]   // pi/2 from a zero operand
    public void FpatanIsAccurateTo64Bits(int y, int x, ulong mantissa, int signExp)
    {
        using var m = Run(64, a =>
        {
            a.fild(Dw(64, 0));
            a.fild(Dw(64, 4));
            a.fpatan();
            a.fstp(Tw(64, 0x100));
        }, m =>
        {
            m.WriteMem(Data, (ulong)(uint)y, 4);
            m.WriteMem(Data + 4, (ulong)(uint)x, 4);
        });
        Assert.Equal(mantissa, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)signExp, m.ReadMem(Data + 0x108, 2));
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
    }
}

using Emulator.X86.State;
using Xunit;
using static Emulator.X86.Tests.X87Tests;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>x87 arithmetic, compares (condition codes and FCOMI's EFLAGS), stack and tag behaviour, functions and constants.</summary>
public class X87ArithTests
{
    private const ulong OnePointFive = 0x3FF8_0000_0000_0000, TwoPointTwoFive = 0x4002_0000_0000_0000;

    private static void PutOperands(TestMachine m)
    {
        m.WriteMem(Data, OnePointFive, 8);
        m.WriteMem(Data + 8, TwoPointTwoFive, 8);
        m.WriteMem(Data + 16, 3, 4);  // int32 3
        m.WriteMem(Data + 20, 4, 2);  // int16 4
        m.WriteMem(Data + 24, 0x7FF8_0000_0000_0000, 8); // QNaN
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void ArithmeticInAllOperandForms(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Qw(bits, 0));
            a.fadd(Qw(bits, 8));      // 3.75
            a.fstp(Tw(bits, 0x100));
            a.fld(Qw(bits, 0));
            a.fld(Qw(bits, 8));       // ST0 = 2.25, ST1 = 1.5
            a.fsub(st0, st1);         // 0.75
            a.fstp(Qw(bits, 0x110));
            a.fld(Qw(bits, 8));
            a.fsubr(st0, st1);        // 1.5 - 2.25
            a.fstp(Qw(bits, 0x118));
            a.fld(Qw(bits, 8));
            a.fsubp(st1, st0);        // ST1 = 1.5 - 2.25, pop
            a.fstp(Qw(bits, 0x120));
            a.fld(Qw(bits, 0));
            a.fimul(Dw(bits, 16));    // 4.5
            a.fidiv(W(bits, 20));     // 1.125
            a.fstp(Qw(bits, 0x128));
            a.fld(Qw(bits, 0));
            a.fdivr(Qw(bits, 8));     // 2.25 / 1.5 = 1.5
            a.fld(Qw(bits, 8));
            a.fmulp(st1, st0);        // 3.375
            a.fisubr(Dw(bits, 16));   // 3 - 3.375
            a.fstp(Qw(bits, 0x130));
            a.fld(Qw(bits, 0));
            a.fld(Qw(bits, 8));
            a.fdivrp(st1, st0);       // ST1 = ST0 / ST1 = 1.5
            a.fiadd(W(bits, 20));     // 5.5
            a.fstp(Qw(bits, 0x138));
        }, PutOperands);
        Assert.Equal(0xF000_0000_0000_0000UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x4000UL, m.ReadMem(Data + 0x108, 2));
        Assert.Equal(0x3FE8_0000_0000_0000UL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0xBFE8_0000_0000_0000UL, m.ReadMem(Data + 0x118, 8));
        Assert.Equal(0xBFE8_0000_0000_0000UL, m.ReadMem(Data + 0x120, 8));
        Assert.Equal(0x3FF2_0000_0000_0000UL, m.ReadMem(Data + 0x128, 8));
        Assert.Equal(0xBFD8_0000_0000_0000UL, m.ReadMem(Data + 0x130, 8));
        Assert.Equal(0x4016_0000_0000_0000UL, m.ReadMem(Data + 0x138, 8));
        Assert.Equal(0, Fsw(m) & 0x7F);
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void DivideByZeroAndInvalidOperations(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.fstp(Qw(bits, 0x100)); // +inf, ZE
            a.fnstsw(W(bits, 0x140));
            a.fnclex();
            a.fldz();
            a.fldz();
            a.fdivp(st1, st0);
            a.fstp(Qw(bits, 0x108)); // indefinite, IE
        });
        Assert.Equal(0x7FF0_0000_0000_0000UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal((ulong)ZE, m.ReadMem(Data + 0x140, 2) & 0x7F);
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal(IE, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void CompareSetsConditionCodes(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Qw(bits, 8));
            a.fld(Qw(bits, 0));      // ST0 = 1.5, ST1 = 2.25
            a.fcom(st0, st1);             // less: C0
            a.fnstsw(ax);
            a.mov(W(bits, 0x100), ax);
            a.fcom(Qw(bits, 0));     // equal: C3
            a.fnstsw(W(bits, 0x102));
            a.ficom(W(bits, 20));    // 1.5 > 4? no: less
            a.fnstsw(W(bits, 0x104));
            a.fxch(st0, st1);
            a.fcom(st0, st1);             // 2.25 > 1.5: none
            a.fnstsw(W(bits, 0x106));
            a.fld(Qw(bits, 24));
            a.fucom(st0, st1);            // unordered, no IE for a QNaN
            a.fnstsw(W(bits, 0x108));
            a.fcomp(st0, st1);            // unordered, IE, pops
            a.fnstsw(W(bits, 0x10A));
            a.fcompp();              // 2.25 vs 1.5, pops both
            a.fnstsw(W(bits, 0x10C));
        }, PutOperands);
        Assert.Equal((ulong)C0, m.ReadMem(Data + 0x100, 2) & 0x4700);
        Assert.Equal((ulong)C3, m.ReadMem(Data + 0x102, 2) & 0x4700);
        Assert.Equal((ulong)C0, m.ReadMem(Data + 0x104, 2) & 0x4700);
        Assert.Equal(0UL, m.ReadMem(Data + 0x106, 2) & 0x4700);
        Assert.Equal((ulong)(C0 | C2 | C3), m.ReadMem(Data + 0x108, 2) & 0x4700);
        Assert.Equal(0UL, m.ReadMem(Data + 0x108, 2) & IE);
        Assert.Equal((ulong)(C0 | C2 | C3 | IE), m.ReadMem(Data + 0x10A, 2) & (0x4700 | IE));
        Assert.Equal(0UL, m.ReadMem(Data + 0x10C, 2) & 0x4700);
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
        Assert.Equal(0, (Fsw(m) >> 11) & 7);
    }

    [Theory]
    [InlineData(32, 0, 8, true, false, false)]   // 1.5 < 2.25
    [InlineData(64, 8, 0, false, false, false)]  // 2.25 > 1.5
    [InlineData(64, 0, 0, false, true, false)]   // equal
    [InlineData(32, 24, 0, true, true, true)]    // unordered
    public void FcomiSetsZfPfCf(int bits, int first, int second, bool cf, bool zf, bool pf)
    {
        using var m = Run(bits, a =>
        {
            a.mov(eax, 0x7FFFFFFF);
            a.add(eax, 1);           // OF and SF set: FUCOMI clears them
            a.fld(Qw(bits, second));
            a.fld(Qw(bits, first));
            a.fucomi(st0, st1);
        }, PutOperands);
        Assert.Equal(cf, m.Flag(RFlags.CF));
        Assert.Equal(zf, m.Flag(RFlags.ZF));
        Assert.Equal(pf, m.Flag(RFlags.PF));
        Assert.False(m.Flag(RFlags.OF));
        Assert.False(m.Flag(RFlags.SF));
        Assert.False(m.Flag(RFlags.AF));
        Assert.Equal(0, Fsw(m) & IE);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void FcomipBranchesAndSignalsInvalidForQNaN(int bits)
    {
        using var m = Run(bits, a =>
        {
            var below = a.CreateLabel();
            var done = a.CreateLabel();
            a.fld(Qw(bits, 8));
            a.fld(Qw(bits, 0));
            a.fcomip(st0, st1);      // 1.5 < 2.25: CF
            a.jb(below);
            a.mov(eax, 2);
            a.jmp(done);
            a.Label(ref below);
            a.mov(eax, 1);
            a.Label(ref done);
            a.fld(Qw(bits, 24));
            a.fcomi(st0, st1);       // QNaN: IE for FCOMI
        }, PutOperands);
        Assert.Equal(1UL, m[Gpr.Rax]);
        Assert.Equal(IE, Fsw(m) & 0x7F);
        Assert.Equal(6, (Fsw(m) >> 11) & 7);
        Assert.True(m.Flag(RFlags.ZF) && m.Flag(RFlags.PF) && m.Flag(RFlags.CF));
    }

    [Fact]
    public void TopAndTagsFollowPushesPopsAndExchanges()
    {
        using var m1 = Run(64, a => a.fld1());
        Assert.Equal(7 << 11, Fsw(m1));
        Assert.Equal(0x3FFF, m1.Cpu.S.Ftw);

        using var m2 = Run(64, a =>
        {
            a.fld1();
            a.fldz();
        });
        Assert.Equal(6 << 11, Fsw(m2));
        Assert.Equal(0x1FFF, m2.Cpu.S.Ftw);

        using var m3 = Run(32, a =>
        {
            a.fld1();
            a.fldz();
            a.fxch(st0, st1);     // R6 = 1.0 (valid), R7 = 0 (zero)
        });
        Assert.Equal(0x4FFF, m3.Cpu.S.Ftw);

        using var m4 = Run(32, a =>
        {
            a.fld1();
            a.fldz();
            a.fincstp();     // TOP 7, tags unchanged
            a.ffree(st0);    // R7 empty
            a.fdecstp();
            a.fdecstp();     // TOP 5
        });
        Assert.Equal(5 << 11, Fsw(m4));
        Assert.Equal(0xDFFF, m4.Cpu.S.Ftw);

        using var m5 = Run(64, a =>
        {
            a.fld1();
            a.fstp(st0);     // pop only
        });
        Assert.Equal(0, Fsw(m5));
        Assert.Equal(0xFFFF, m5.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void StackOverflowPushesIndefiniteWithC1(int bits)
    {
        using var m = Run(bits, a =>
        {
            for (int i = 0; i < 9; i++)
            {
                a.fld1();
            }

            a.fnstsw(W(bits, 0x100));
            a.fstp(Tw(bits, 0x110));
        });
        Assert.Equal((ulong)(IE | SF | C1 | (7 << 11)), m.ReadMem(Data + 0x100, 2)); // IE is masked: no ES or B
        Assert.Equal(0xC000_0000_0000_0000UL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0xFFFFUL, m.ReadMem(Data + 0x118, 2));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void StackUnderflowGivesIndefiniteWithC1Clear(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fadd(st0, st1);
            a.fnstsw(W(bits, 0x100));
            a.fst(Qw(bits, 0x108));
            a.fstp(st0);
            a.fstp(Dw(bits, 0x110)); // empty: stores the indefinite, still IE
        });
        Assert.Equal((ulong)(IE | SF), m.ReadMem(Data + 0x100, 2) & 0xFF);
        Assert.Equal(0UL, m.ReadMem(Data + 0x100, 2) & C1);
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal(0xFFC0_0000UL, m.ReadMem(Data + 0x110, 4));
    }

    [Theory]
    [InlineData(Nearest, 0x4004_0000_0000_0000UL, 0x4000_0000_0000_0000UL)] // 2.5 -> 2
    [InlineData(Up, 0x4004_0000_0000_0000UL, 0x4008_0000_0000_0000UL)]      // 2.5 -> 3
    [InlineData(Down, 0xC004_0000_0000_0000UL, 0xC008_0000_0000_0000UL)]    // -2.5 -> -3
    [InlineData(Chop, 0xC004_0000_0000_0000UL, 0xC000_0000_0000_0000UL)]    // -2.5 -> -2
    [InlineData(Nearest, 0xBFD0_0000_0000_0000UL, 0x8000_0000_0000_0000UL)] // -0.25 -> -0
    public void FrndintUsesTheRoundingControl(int fcw, ulong value, ulong expected)
    {
        using var m = Run(32, a =>
        {
            a.fldcw(W(32, 0));
            a.fld(Qw(32, 8));
            a.frndint();
            a.fstp(Qw(32, 16));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            m.WriteMem(Data + 8, value, 8);
        });
        Assert.Equal(expected, m.ReadMem(Data + 16, 8));
        Assert.Equal(PE, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(Nearest, 0x8000_0000_0000_0001UL, 0)]           // 64-bit precision: exact
    [InlineData(0x027F, 0x8000_0000_0000_0000UL, PE)]           // 53-bit precision control
    [InlineData(0x0A7F, 0x8000_0000_0000_0800UL, PE)]           // 53 bits, rounding up
    [InlineData(0x007F, 0x8000_0000_0000_0000UL, PE)]           // 24 bits
    public void AddHonoursPrecisionControl(int fcw, ulong mantissa, int flags)
    {
        using var m = Run(64, a =>
        {
            a.fldcw(W(64, 0));
            a.fld1();
            a.fld(Tw(64, 16));       // 2^-63
            a.faddp(st1, st0);
            a.fstp(Tw(64, 32));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            Put80(m, 16, 0x8000_0000_0000_0000, 16383 - 63);
        });
        Assert.Equal(mantissa, m.ReadMem(Data + 32, 8));
        Assert.Equal(0x3FFFUL, m.ReadMem(Data + 40, 2));
        Assert.Equal(flags, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void ArithmeticIsExactTo64Bits(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fild(Qw(bits, 0));      // 2^63 - 1
            a.fild(Qw(bits, 8));      // 2^63 - 2
            a.fsubp(st1, st0);
            a.fistp(Qw(bits, 0x100)); // 1: needs all 64 bits
            a.fld1();
            a.fild(Dw(bits, 16));     // 3
            a.fdivp(st1, st0);        // 1/3
            a.fstp(Tw(bits, 0x110));
            a.fild(Dw(bits, 20));     // 2
            a.fsqrt();
            a.fstp(Tw(bits, 0x120));
            a.fld(Tw(bits, 32));      // 2^64 - 1
            a.fmul(st0, st0);
            a.fstp(Tw(bits, 0x130));
        }, m =>
        {
            m.WriteMem(Data, 0x7FFF_FFFF_FFFF_FFFF, 8);
            m.WriteMem(Data + 8, 0x7FFF_FFFF_FFFF_FFFE, 8);
            m.WriteMem(Data + 16, 3, 4);
            m.WriteMem(Data + 20, 2, 4);
            Put80(m, 32, ulong.MaxValue, 16383 + 63);
        });
        Assert.Equal(1UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0xAAAA_AAAA_AAAA_AAABUL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0x3FFDUL, m.ReadMem(Data + 0x118, 2));
        Assert.Equal(0xB504_F333_F9DE_6484UL, m.ReadMem(Data + 0x120, 8));
        Assert.Equal(0x3FFFUL, m.ReadMem(Data + 0x128, 2));
        Assert.Equal(0xFFFF_FFFF_FFFF_FFFEUL, m.ReadMem(Data + 0x130, 8));
        Assert.Equal(16383UL + 127, m.ReadMem(Data + 0x138, 2));
        Assert.Equal(PE, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(Chop, 0xAAAA_AAAA_AAAA_AAAAUL, 0xB504_F333_F9DE_6484UL)]
    [InlineData(Up, 0xAAAA_AAAA_AAAA_AAABUL, 0xB504_F333_F9DE_6485UL)]
    public void DivideAndSqrtRoundByControlWord(int fcw, ulong third, ulong root2)
    {
        using var m = Run(32, a =>
        {
            a.fldcw(W(32, 0));
            a.fld1();
            a.fild(Dw(32, 16));
            a.fdivp(st1, st0);
            a.fstp(Tw(32, 0x110));
            a.fild(Dw(32, 20));
            a.fsqrt();
            a.fstp(Tw(32, 0x120));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            m.WriteMem(Data + 16, 3, 4);
            m.WriteMem(Data + 20, 2, 4);
        });
        Assert.Equal(third, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(root2, m.ReadMem(Data + 0x120, 8));
    }

    [Fact]
    public void OverflowAndUnderflowOfArithmetic()
    {
        using var m = Run(64, a =>
        {
            a.fld(Tw(64, 0));         // 2^16383
            a.fmul(st0, st0);         // overflow: +inf
            a.fstp(Tw(64, 0x100));
            a.fnstsw(W(64, 0x140));
            a.fnclex();
            a.fld(Tw(64, 16));        // 2^-16382 (smallest normal)
            a.fld1();
            a.fadd(st0, st0);         // 2
            a.fdivp(st1, st0);        // 2^-16383: an exact denormal, no UE
            a.fstp(Tw(64, 0x110));
            a.fnstsw(W(64, 0x142));
        }, m =>
        {
            Put80(m, 0, 0x8000_0000_0000_0000, 0x7FFE);
            Put80(m, 16, 0x8000_0000_0000_0000, 0x0001);
        });
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x7FFFUL, m.ReadMem(Data + 0x108, 2));
        Assert.Equal((ulong)(OE | PE), m.ReadMem(Data + 0x140, 2) & 0x7F);
        Assert.Equal(0x4000_0000_0000_0000UL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0UL, m.ReadMem(Data + 0x118, 2));
        Assert.Equal(0UL, m.ReadMem(Data + 0x142, 2) & 0x7F);
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(64, true)]
    public void UnmaskedExceptionFaultsAtTheNextWaitingInstruction(int bits, bool fwait)
    {
        using var m = new TestMachine(bits);
        m.Cpu.S.Cr0 |= 0x20; // CR0.NE: report x87 errors as #MF
        m.WriteMem(Data, 0x037B, 2); // ZE unmasked
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.fninit();
            a.fldcw(W(bits, 0));
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);         // ZE pending: no result, no pop
            a.fnstsw(W(bits, 0x10));   // a non-waiting instruction does not fault
            if (fwait)
            {
                a.wait();
            }
            else
            {
                a.fld1();
            }
        });
        Assert.Equal(16, m.RunToException());
        Assert.Equal((ulong)(ZE | 0x8080 | (6 << 11)), m.ReadMem(Data + 0x10, 2));
        Assert.Equal(0x1FFF, m.Cpu.S.Ftw);
        Assert.Equal(6 << 11, Fsw(m) & 0x3800);
    }

    [Fact]
    public void WithoutCr0NeAPendingExceptionDoesNotFault()
    {
        using var m = Run(32, a =>
        {
            a.fldcw(W(32, 0));
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.wait();
            a.fld1();
            a.fnclex();
        }, m => m.WriteMem(Data, 0x037B, 2));
        Assert.Equal(5 << 11, Fsw(m));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void ControlWordAndStatusWordStores(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fldcw(W(bits, 0));      // 0x0000: bit 6 reads back as 1
            a.fnstcw(W(bits, 0x100));
            a.fstcw(W(bits, 0x102));
            a.fld1();
            a.fstsw(ax);
            a.fstsw(W(bits, 0x104));
            a.fldcw(W(bits, 2));      // 0x1F7F: reserved bits 13-15 stay clear
            a.fnstcw(W(bits, 0x106));
        }, m =>
        {
            m.WriteMem(Data, 0, 2);
            m.WriteMem(Data + 2, 0xFF7F, 2);
        });
        Assert.Equal(0x0040UL, m.ReadMem(Data + 0x100, 2));
        Assert.Equal(0x0040UL, m.ReadMem(Data + 0x102, 2));
        Assert.Equal(7UL << 11, m[Gpr.Rax] & 0xFFFF);
        Assert.Equal(7UL << 11, m.ReadMem(Data + 0x104, 2));
        Assert.Equal(0x1F7FUL, m.ReadMem(Data + 0x106, 2));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void ExchangeAndStoreToRegisters(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld1();                 // 1
            a.fldz();                 // 0 1
            a.fldpi();                // pi 0 1
            a.fst(st2);               // pi 0 pi
            a.fxch(st0, st1);         // 0 pi pi
            a.fstp(st1);              // 0 pi
            a.fstp(Qw(bits, 0x100));  // 0
            a.fstp(Qw(bits, 0x108));  // pi
            a.fxch(st0, st1);         // both empty: IE, both become the indefinite
            a.fnstsw(W(bits, 0x110));
            a.ffreep(st0);
            a.ffreep(st0);
        });
        Assert.Equal(0UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x4009_21FB_5444_2D18UL, m.ReadMem(Data + 0x108, 8));
        Assert.Equal((ulong)(IE | SF | PE), m.ReadMem(Data + 0x110, 2) & 0x7F); // PE: pi stored as a double
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
        Assert.Equal(2, (Fsw(m) >> 11) & 7);
    }

    [Fact]
    public void FstenvFldenvRoundTripIn64BitCode()
    {
        using var m = Run(64, a =>
        {
            a.fld1();
            a.fld(Qw(64, 0));         // FDP = Data
            a.fnstenv(M(64, 0x100));
            a.fninit();
            a.fldenv(M(64, 0x100));
            a.fnstenv(M(64, 0x140));
        }, m => m.WriteMem(Data, OnePointFive, 8));
        for (ulong k = 0; k < 28; k += 4)
        {
            Assert.Equal(m.ReadMem(Data + 0x100 + k, 4), m.ReadMem(Data + 0x140 + k, 4));
        }

        Assert.Equal(6UL << 11, m.ReadMem(Data + 0x104, 2));
        Assert.Equal(0x0FFFUL, m.ReadMem(Data + 0x108, 2));
        Assert.Equal(Data, m.ReadMem(Data + 0x114, 4));
        Assert.Equal(0x0FFF, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(0x8, "fld1")]     // CR0.TS
    [InlineData(0x4, "fld1")]     // CR0.EM
    [InlineData(0x8, "fnstsw")]
    [InlineData(0x8, "fninit")]
    [InlineData(0x4, "fxsave")]
    [InlineData(0xA, "wait")]     // CR0.MP and CR0.TS
    public void FpuUnavailableRaisesNm(int cr0Bits, string insn)
    {
        using var m = new TestMachine(64);
        m.Cpu.S.Cr0 |= (uint)cr0Bits;
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            switch (insn)
            {
                case "fld1": a.fld1(); break;
                case "fnstsw": a.fnstsw(ax); break;
                case "fninit": a.fninit(); break;
                case "fxsave": a.fxsave(M(64, 0)); break;
                default: a.wait(); break;
            }
        });
        Assert.Equal(7, m.RunToException());
    }

    [Fact]
    public void WaitIgnoresTsWithoutMp()
    {
        using var m = new TestMachine(32);
        m.Cpu.S.Cr0 |= 0x8;
        m.Load(a => a.wait()).Run();
        Assert.Equal(0, Fsw(m));
    }
}

using Emulator.X86.State;
using Xunit;
using static Emulator.X86.Tests.X87Tests;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// Which x87 exception is reported when several apply: a stack fault outranks a denormal
/// operand, an underflow outranks the overflow of the push that follows it, a QNaN operand
/// outranks a denormal one (SDM Vol. 1 4.9.2, 8.5.1.1). Each was found by the host
/// differential's x87 group (all exceptions masked).
/// </summary>
public class X87StackFaultTests
{
    private const ushort DE = 2;
    private const ulong IndefiniteMantissa = 0xC000_0000_0000_0000;

    [Fact]
    public void DenormalDoubleWithAQNaNOperandRaisesNoDe()
    {
        using var m = Run(64, a =>
        {
            a.fld(Qw(64, 8)); // a QNaN
            a.fadd(Qw(64, 0)); // a denormal double
        }, m =>
        {
            m.WriteMem(Data, 0x8000_0000_0000_0001, 8);
            m.WriteMem(Data + 8, 0x7FF8_0000_0000_1234, 8);
        });
        Assert.Equal(0, m.Cpu.S.Fsw & DE);
    }

    [Fact]
    public void DenormalSingleLoadedOntoAFullStackRaisesOnlyTheStackFault()
    {
        using var m = Run(64, a =>
        {
            for (int i = 0; i < 8; i++)
            {
                a.fld1();
            }

            a.fld(Dw(64, 0)); // a denormal single
        }, m => m.WriteMem(Data, 0x0000_0001, 4));
        Assert.Equal(IE | SF | C1, m.Cpu.S.Fsw & (IE | DE | SF | C1));
    }

    [Fact]
    public void ExtractOnAFullStackLeavesTheIndefiniteInBothHalves()
    {
        using var m = Run(64, a =>
        {
            for (int i = 0; i < 8; i++)
            {
                a.fld1();
            }

            a.fxtract();
            a.fstp(Qw(64, 0x100)); // ST0
            a.fstp(Qw(64, 0x108)); // ST1
        });
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0xFFF8_0000_0000_0000UL, m.ReadMem(Data + 0x108, 8));
    }

    [Fact]
    public void LoadOfAnEmptyRegisterOntoAFullStackReportsUnderflow()
    {
        using var m = Run(64, a =>
        {
            for (int i = 0; i < 8; i++)
            {
                a.fld1();
            }

            a.ffree(st3);
            a.fld(st3); // ST3 empty and the stack full: underflow (C1 = 0), not overflow
        });
        Assert.Equal(IE | SF, m.Cpu.S.Fsw & (IE | SF | C1));
        Assert.Equal(IndefiniteMantissa, X87Top(m).Mantissa);
    }

    [Fact]
    public void RemainderOfAnEmptyRegisterIsCompleteWithC2Clear()
    {
        using var m = Run(64, a =>
        {
            a.fldz();
            a.fldz();
            a.fdivp(st1, st0); // 0/0: the indefinite
            a.fcom(st0, st0); // unordered: C3 C2 C0 set
            a.fstp(st0); // empty again
            a.fld1();
            a.fprem(); // ST1 empty
        });
        Assert.Equal(0, m.Cpu.S.Fsw & C2);
        Assert.Equal(IE | SF, m.Cpu.S.Fsw & (IE | SF));
    }

    private static unsafe Float80 X87Top(TestMachine m)
    {
        int top = (m.Cpu.S.Fsw >> 11) & 7;
        return (&m.Cpu.State->Fpr0)[top];
    }
}

using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// x87 loads, stores, conversions, arithmetic, compares and stack behaviour. Expected bit
/// patterns are worked out by hand from the formats of SDM Vol. 1 4.2 and 4.8.
/// </summary>
public class X87Tests
{
    internal const ulong Data = TestMachine.DataAddress;

    // FSW bits (SDM Vol. 1 Figure 8-4).
    internal const ushort IE = 1, ZE = 4, OE = 8, UE = 16, PE = 32, SF = 64, C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;

    // FCW with all exceptions masked and each rounding control.
    internal const int Nearest = 0x037F, Down = 0x077F, Up = 0x0B7F, Chop = 0x0F7F;

    /// <summary>A memory operand at Data + off, addressed through (E/R)BX, which the code sets to Data.</summary>
    internal static AssemblerMemoryOperand M(int bits, int off) => bits == 64 ? __[rbx + off] : __[ebx + off];

    internal static AssemblerMemoryOperand Dw(int bits, int off) => bits == 64 ? __dword_ptr[rbx + off] : __dword_ptr[ebx + off];

    internal static AssemblerMemoryOperand Qw(int bits, int off) => bits == 64 ? __qword_ptr[rbx + off] : __qword_ptr[ebx + off];

    internal static AssemblerMemoryOperand Tw(int bits, int off) => bits == 64 ? __tword_ptr[rbx + off] : __tword_ptr[ebx + off];

    internal static AssemblerMemoryOperand W(int bits, int off) => bits == 64 ? __word_ptr[rbx + off] : __word_ptr[ebx + off];

    /// <summary>Runs <paramref name="body"/> after FNINIT with EBX = Data.</summary>
    internal static TestMachine Run(int bits, Action<Assembler> body, Action<TestMachine>? setup = null)
    {
        var m = new TestMachine(bits);
        setup?.Invoke(m);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.fninit();
            body(a);
        }).Run();
        return m;
    }

    internal static void Put80(TestMachine m, int off, ulong mantissa, ushort signExp)
    {
        m.WriteMem(Data + (ulong)off, mantissa, 8);
        m.WriteMem(Data + (ulong)off + 8, signExp, 2);
    }

    internal static ushort Fsw(TestMachine m) => m.Cpu.S.Fsw;

    [Theory]
    [InlineData(32, 0x8000_0000_0000_0000UL, 0x3FFF)] // 1.0
    [InlineData(64, 0xABCD_EF01_2345_6789UL, 0xC123)] // a negative normal
    [InlineData(64, 0x0000_0000_0000_0001UL, 0x0000)] // smallest denormal
    [InlineData(32, 0x8000_0000_0000_0001UL, 0x0000)] // pseudo-denormal
    [InlineData(64, 0x8000_0000_0000_0001UL, 0x7FFF)] // SNaN: FLD m80 does not signal
    [InlineData(32, 0xC000_0000_0000_0000UL, 0xFFFF)] // QNaN indefinite
    [InlineData(64, 0x8000_0000_0000_0000UL, 0xFFFF)] // -infinity
    [InlineData(64, 0x0000_0000_0000_0000UL, 0x8000)] // -0
    public void Float80RoundTripsExactly(int bits, ulong mantissa, int signExp)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Tw(bits, 0));
            a.fstp(Tw(bits, 16));
        }, m => Put80(m, 0, mantissa, (ushort)signExp));
        Assert.Equal(mantissa, m.ReadMem(Data + 16, 8));
        Assert.Equal((ulong)signExp, m.ReadMem(Data + 24, 2));
        Assert.Equal(0, Fsw(m) & 0x7F);
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(32, 0x3FF8_0000_0000_0000UL)] // 1.5
    [InlineData(64, 0x8000_0000_0000_0000UL)] // -0
    [InlineData(64, 0x0000_0000_0000_0001UL)] // smallest denormal
    [InlineData(32, 0x000F_FFFF_FFFF_FFFFUL)] // largest denormal
    [InlineData(64, 0x7FEF_FFFF_FFFF_FFFFUL)] // largest finite
    [InlineData(64, 0xFFF0_0000_0000_0000UL)] // -infinity
    [InlineData(32, 0x7FF8_0000_0000_1234UL)] // QNaN with a payload
    public void Float64RoundTripsExactly(int bits, ulong value)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Qw(bits, 0));
            a.fstp(Qw(bits, 8));
        }, m => m.WriteMem(Data, value, 8));
        Assert.Equal(value, m.ReadMem(Data + 8, 8));
    }

    [Theory]
    [InlineData(32, 0x3FC0_0000U)] // 1.5
    [InlineData(64, 0x0000_0001U)] // smallest denormal
    [InlineData(64, 0xFF7F_FFFFU)] // most negative finite
    [InlineData(32, 0x7F80_0000U)] // +infinity
    public void Float32RoundTripsExactly(int bits, uint value)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Dw(bits, 0));
            a.fstp(Dw(bits, 4));
        }, m => m.WriteMem(Data, value, 4));
        Assert.Equal(value, m.ReadMem(Data + 4, 4));
    }

    [Fact]
    public void LoadsWidenExactlyTo80Bits()
    {
        using var m = Run(64, a =>
        {
            a.fld(Dw(64, 0));   // 2^-149
            a.fstp(Tw(64, 16));
            a.fld(Qw(64, 8));   // 2^-1074
            a.fstp(Tw(64, 32));
        }, m =>
        {
            m.WriteMem(Data, 1, 4);
            m.WriteMem(Data + 8, 1, 8);
        });
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(Data + 16, 8));
        Assert.Equal(16383UL - 149, m.ReadMem(Data + 24, 2));
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(Data + 32, 8));
        Assert.Equal(16383UL - 1074, m.ReadMem(Data + 40, 2));
    }

    [Theory]
    [InlineData(32, 0x7FFF_FFFF_FFFF_FFFFUL, 0xFFFF_FFFF_FFFF_FFFEUL, 0x403D)]
    [InlineData(64, 0x8000_0000_0000_0000UL, 0x8000_0000_0000_0000UL, 0xC03E)]
    [InlineData(64, 0x7FFF_FFFF_FFFF_FC01UL, 0xFFFF_FFFF_FFFF_F802UL, 0x403D)] // not a double: needs 63 bits
    [InlineData(32, 0xFFFF_FFFF_FFFF_FFFFUL, 0x8000_0000_0000_0000UL, 0xBFFF)] // -1
    public void Fild64IsExactAndFistpReturnsIt(int bits, ulong value, ulong mantissa, int signExp)
    {
        using var m = Run(bits, a =>
        {
            a.fild(Qw(bits, 0));
            a.fld(st0);
            a.fstp(Tw(bits, 16));
            a.fistp(Qw(bits, 32));
        }, m => m.WriteMem(Data, value, 8));
        Assert.Equal(mantissa, m.ReadMem(Data + 16, 8));
        Assert.Equal((ulong)signExp, m.ReadMem(Data + 24, 2));
        Assert.Equal(value, m.ReadMem(Data + 32, 8));
        Assert.Equal(0, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void Fild16And32StoreBackThroughFist(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fild(W(bits, 0));
            a.fist(W(bits, 8));
            a.fistp(Dw(bits, 12));
            a.fild(Dw(bits, 4));
            a.fistp(Dw(bits, 16));
        }, m =>
        {
            m.WriteMem(Data, 0x8001, 2);          // -32767
            m.WriteMem(Data + 4, 0x8000_0000, 4); // int32 minimum
        });
        Assert.Equal(0x8001UL, m.ReadMem(Data + 8, 2));
        Assert.Equal(0xFFFF_8001UL, m.ReadMem(Data + 12, 4));
        Assert.Equal(0x8000_0000UL, m.ReadMem(Data + 16, 4));
    }

    [Theory]
    [InlineData(Nearest, 0x4004_0000_0000_0000UL, 2L)]  // 2.5 -> 2 (ties to even)
    [InlineData(Nearest, 0x400C_0000_0000_0000UL, 4L)]  // 3.5 -> 4
    [InlineData(Nearest, 0xC004_0000_0000_0000UL, -2L)] // -2.5 -> -2
    [InlineData(Down, 0x4004_0000_0000_0000UL, 2L)]
    [InlineData(Down, 0xC004_0000_0000_0000UL, -3L)]
    [InlineData(Up, 0x4004_0000_0000_0000UL, 3L)]
    [InlineData(Up, 0xC004_0000_0000_0000UL, -2L)]
    [InlineData(Chop, 0x400C_0000_0000_0000UL, 3L)]
    [InlineData(Chop, 0xC004_0000_0000_0000UL, -2L)]
    [InlineData(Up, 0x3FB9_9999_9999_999AUL, 1L)]       // 0.1 -> 1
    public void FistRoundsByControlWord(int fcw, ulong value, long expected)
    {
        foreach (int bits in new[] { 32, 64 })
        {
            using var m = Run(bits, a =>
            {
                a.fldcw(W(bits, 0));
                a.fld(Qw(bits, 8));
                a.fld(st0);
                a.fld(st0);
                a.fistp(W(bits, 16));
                a.fistp(Dw(bits, 20));
                a.fistp(Qw(bits, 24));
            }, m =>
            {
                m.WriteMem(Data, (ulong)fcw, 2);
                m.WriteMem(Data + 8, value, 8);
            });
            Assert.Equal((ulong)expected & 0xFFFF, m.ReadMem(Data + 16, 2));
            Assert.Equal((ulong)expected & 0xFFFF_FFFF, m.ReadMem(Data + 20, 4));
            Assert.Equal((ulong)expected, m.ReadMem(Data + 24, 8));
            Assert.Equal(PE, Fsw(m) & 0x7F);
        }
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void FisttpTruncatesWhateverTheRoundingControl(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Qw(bits, 0));
            a.fisttp(Dw(bits, 16));
            a.fld(Qw(bits, 8));
            a.fisttp(Qw(bits, 24));
        }, m =>
        {
            m.WriteMem(Data, 0x400C_0000_0000_0000, 8);     // 3.5
            m.WriteMem(Data + 8, 0xC004_0000_0000_0000, 8); // -2.5
        });
        Assert.Equal(3UL, m.ReadMem(Data + 16, 4));
        Assert.Equal(unchecked((ulong)-2L), m.ReadMem(Data + 24, 8));
        Assert.Equal(0xFFFFUL, m.Cpu.S.Ftw);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void FistOutOfRangeStoresIntegerIndefiniteAndSignalsInvalid(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fld(Qw(bits, 0));
            a.fist(Dw(bits, 16));
            a.fist(W(bits, 20));
            a.fistp(Qw(bits, 24));
            a.fld(Qw(bits, 8));
            a.fistp(W(bits, 32));
        }, m =>
        {
            m.WriteMem(Data, 0x4202_A05F_2000_0000, 8);     // 1e10
            m.WriteMem(Data + 8, 0x40E0_0000_0000_0000, 8); // 32768.0
        });
        Assert.Equal(0x8000_0000UL, m.ReadMem(Data + 16, 4));
        Assert.Equal(0x8000UL, m.ReadMem(Data + 20, 2));
        Assert.Equal(10_000_000_000UL, m.ReadMem(Data + 24, 8));
        Assert.Equal(0x8000UL, m.ReadMem(Data + 32, 2));
        Assert.Equal(IE, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(Nearest, 0x3EAA_AAABU, PE | C1)] // C1: rounded up
    [InlineData(Down, 0x3EAA_AAAAU, PE)]
    [InlineData(Up, 0x3EAA_AAABU, PE | C1)]
    [InlineData(Chop, 0x3EAA_AAAAU, PE)]
    public void FstSingleRoundsByControlWord(int fcw, uint expected, int flags)
    {
        using var m = Run(32, a =>
        {
            a.fldcw(W(32, 0));
            a.fld(Qw(32, 8)); // 1/3 as a double
            a.fstp(Dw(32, 16));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            m.WriteMem(Data + 8, 0x3FD5_5555_5555_5555, 8);
        });
        Assert.Equal(expected, m.ReadMem(Data + 16, 4));
        Assert.Equal(flags, Fsw(m) & (0x7F | C1));
    }

    [Theory]
    [InlineData(Nearest, 0x3FF0_0000_0000_0000UL)]
    [InlineData(Up, 0x3FF0_0000_0000_0001UL)]
    public void FstDoubleRoundsThe64BitSignificand(int fcw, ulong expected)
    {
        using var m = Run(64, a =>
        {
            a.fldcw(W(64, 0));
            a.fld(Tw(64, 16)); // 1 + 2^-63
            a.fstp(Qw(64, 32));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            Put80(m, 16, 0x8000_0000_0000_0001, 0x3FFF);
        });
        Assert.Equal(expected, m.ReadMem(Data + 32, 8));
        Assert.Equal(PE, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(Nearest, 0U, UE | PE)]  // 2^-150: a tie, to even (zero)
    [InlineData(Up, 1U, UE | PE)]
    public void FstSingleUnderflowsToDenormal(int fcw, uint expected, int flags)
    {
        using var m = Run(64, a =>
        {
            a.fldcw(W(64, 0));
            a.fld(Tw(64, 16));
            a.fstp(Dw(64, 32));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            Put80(m, 16, 0x8000_0000_0000_0000, 16383 - 150);
        });
        Assert.Equal(expected, m.ReadMem(Data + 32, 4));
        Assert.Equal(flags, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(Nearest, 0x7F80_0000U)]
    [InlineData(Chop, 0x7F7F_FFFFU)]
    public void FstSingleOverflow(int fcw, uint expected)
    {
        using var m = Run(32, a =>
        {
            a.fldcw(W(32, 0));
            a.fld(Qw(32, 8));
            a.fstp(Dw(32, 16));
        }, m =>
        {
            m.WriteMem(Data, (ulong)fcw, 2);
            m.WriteMem(Data + 8, 0x7E37_E43C_8800_759C, 8); // 1e300
        });
        Assert.Equal(expected, m.ReadMem(Data + 16, 4));
        Assert.Equal(OE | PE, Fsw(m) & 0x7F);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void PackedBcdLoadAndStore(int bits)
    {
        using var m = Run(bits, a =>
        {
            a.fbld(Tw(bits, 0));      // -123456789012345678
            a.fld(st0);
            a.fistp(Qw(bits, 0x100));
            a.fbstp(Tw(bits, 0x110));
            a.fld(Qw(bits, 16));      // 2.5
            a.fbstp(Tw(bits, 0x120)); // 2 (nearest even)
            a.fld(Qw(bits, 24));      // 1e18: 19 digits
            a.fbstp(Tw(bits, 0x130));
        }, m =>
        {
            Put80(m, 0, 0x3456_7890_1234_5678, 0x8012);
            m.WriteMem(Data + 16, 0x4004_0000_0000_0000, 8);
            m.WriteMem(Data + 24, 0x43AB_C16D_674E_C800, 8);
        });
        Assert.Equal(unchecked((ulong)-123456789012345678L), m.ReadMem(Data + 0x100, 8));
        Assert.Equal(0x3456_7890_1234_5678UL, m.ReadMem(Data + 0x110, 8));
        Assert.Equal(0x8012UL, m.ReadMem(Data + 0x118, 2));
        Assert.Equal(2UL, m.ReadMem(Data + 0x120, 8));
        Assert.Equal(0UL, m.ReadMem(Data + 0x128, 2));
        Assert.Equal(0xC000_0000_0000_0000UL, m.ReadMem(Data + 0x130, 8));
        Assert.Equal(0xFFFFUL, m.ReadMem(Data + 0x138, 2));
        Assert.Equal(IE | PE, Fsw(m) & 0x7F);
    }
}

using Iced.Intel;
using Xunit;
using static Emulator.X86.Tests.X87Tests;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// FXSAVE/FXRSTOR images checked field by field against SDM Vol. 2A Tables 3-53 to 3-56, and
/// the FSAVE/FRSTOR and FSTENV/FLDENV images of SDM Vol. 1 Figures 8-9 and 8-10.
/// </summary>
public unsafe class X87SaveTests
{
    private const ulong X87Mantissa = 0xABCD_EF01_2345_6789;
    private const ushort X87SignExp = 0xC123;
    private const int Image = 0x200;

    /// <summary>The guest address just past <paramref name="prefix"/>, as X87Tests.Run lays code out.</summary>
    private static ulong AddressAfter(int bits, Action<Assembler> prefix)
    {
        var a = new Assembler(bits);
        a.mov(ebx, (uint)Data);
        a.fninit();
        prefix(a);
        return TestMachine.CodeAddress + (ulong)TestMachine.Assemble(a, TestMachine.CodeAddress).Length;
    }

    private static void Prepare(TestMachine m)
    {
        Put80(m, 0, X87Mantissa, X87SignExp);
        m.WriteMem(Data + 0x20, 0x027F, 2);
        for (int i = 0; i < 1024; i++)
        {
            m.WriteMem(Data + Image + (ulong)i, 0xEE, 1);
        }

        m.Cpu.S.Mxcsr = 0x1FA1; // masks, PE and IE flags, RC down
        for (int i = 0; i < 32; i++)
        {
            m.Cpu.S.Xmm[i] = 0x0101_0101_0101_0101UL * (ulong)(i + 1);
        }
    }

    private static void LoadThreeValues(Assembler a, int bits)
    {
        a.fldcw(W(bits, 0x20));
        a.fld1();
        a.fldz();
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(64, true)]
    public void FxsaveImageFieldByField(int bits, bool rexW)
    {
        ulong fip = AddressAfter(bits, a => LoadThreeValues(a, bits));
        using var m = Run(bits, a =>
        {
            LoadThreeValues(a, bits);
            a.fld(Tw(bits, 0));
            if (rexW)
            {
                a.fxsave64(M(bits, Image));
            }
            else
            {
                a.fxsave(M(bits, Image));
            }
        }, Prepare);
        ulong img = Data + Image;
        Assert.Equal(0x027FUL, m.ReadMem(img + 0, 2));       // FCW
        Assert.Equal(5UL << 11, m.ReadMem(img + 2, 2));      // FSW: TOP = 5
        Assert.Equal(0xE0UL, m.ReadMem(img + 4, 1));         // abridged FTW: R5-R7 in use
        Assert.Equal(0UL, m.ReadMem(img + 5, 1));            // reserved
        Assert.Equal(0x032BUL, m.ReadMem(img + 6, 2));       // FOP of FLD m80 [rBX]: DB /5, ModR/M 2BH
        if (rexW)
        {
            Assert.Equal(fip, m.ReadMem(img + 8, 8));        // 64-bit FIP
            Assert.Equal(Data, m.ReadMem(img + 16, 8));      // 64-bit FDP
        }
        else
        {
            Assert.Equal(fip, m.ReadMem(img + 8, 4));        // FIP
            Assert.Equal(0UL, m.ReadMem(img + 12, 4));       // FCS, reserved
            Assert.Equal(Data, m.ReadMem(img + 16, 4));      // FDP
            Assert.Equal(0UL, m.ReadMem(img + 20, 4));       // FDS, reserved
        }

        Assert.Equal(0x1FA1UL, m.ReadMem(img + 24, 4));      // MXCSR
        Assert.Equal(0xFFFFUL, m.ReadMem(img + 28, 4));      // MXCSR_MASK
        Assert.Equal(X87Mantissa, m.ReadMem(img + 32, 8));   // ST0
        Assert.Equal((ulong)X87SignExp, m.ReadMem(img + 40, 8)); // and 6 zero bytes
        Assert.Equal(0UL, m.ReadMem(img + 48, 8));           // ST1 = +0
        Assert.Equal(0UL, m.ReadMem(img + 56, 8));
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(img + 64, 8)); // ST2 = 1.0
        Assert.Equal(0x3FFFUL, m.ReadMem(img + 72, 8));
        for (int i = 3; i < 8; i++)
        {
            Assert.Equal(0UL, m.ReadMem(img + 32 + (ulong)(16 * i), 8)); // empty registers hold their (zero) contents
        }

        int xmms = bits == 64 ? 16 : 8;
        for (int i = 0; i < 16; i++)
        {
            ulong lo = m.ReadMem(img + 160 + (ulong)(16 * i), 8);
            ulong hi = m.ReadMem(img + 168 + (ulong)(16 * i), 8);
            if (i < xmms)
            {
                Assert.Equal(0x0101_0101_0101_0101UL * (ulong)((2 * i) + 1), lo);
                Assert.Equal(0x0101_0101_0101_0101UL * (ulong)((2 * i) + 2), hi);
            }
            else
            {
                Assert.Equal(0xEEEE_EEEE_EEEE_EEEEUL, lo); // XMM8-15 are not saved outside 64-bit mode
                Assert.Equal(0xEEEE_EEEE_EEEE_EEEEUL, hi);
            }
        }

        for (ulong k = 416; k < 512; k += 8)
        {
            Assert.Equal(0xEEEE_EEEE_EEEE_EEEEUL, m.ReadMem(img + k, 8)); // reserved and software bytes untouched
        }
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(64, true)]
    public void FxrstorRestoresWhatFxsaveSaved(int bits, bool rexW)
    {
        using var m = Run(bits, a =>
        {
            LoadThreeValues(a, bits);
            a.fld(Tw(bits, 0));
            if (rexW)
            {
                a.fxsave64(M(bits, Image));
                a.fninit();
                a.fld1();
                a.fxrstor64(M(bits, Image));
                a.fxsave64(M(bits, Image + 0x200));
            }
            else
            {
                a.fxsave(M(bits, Image));
                a.fninit();
                a.fld1();
                a.fxrstor(M(bits, Image));
                a.fxsave(M(bits, Image + 0x200));
            }
        }, Prepare);
        int length = bits == 64 ? 416 : 288;
        for (int k = 0; k < length; k += 8)
        {
            Assert.Equal(m.ReadMem(Data + Image + (ulong)k, 8), m.ReadMem(Data + Image + 0x200 + (ulong)k, 8));
        }

        Assert.Equal(0x027F, m.Cpu.S.Fcw);
        Assert.Equal(5 << 11, m.Cpu.S.Fsw);
        Assert.Equal(0x13FF, m.Cpu.S.Ftw); // R5 valid, R6 zero, R7 valid: full tags rebuilt from contents
    }

    [Fact]
    public void FxrstorOfAHandBuiltImage()
    {
        using var m = Run(32, a =>
        {
            a.fxrstor(M(32, Image));
            a.fistp(Dw(32, 0x100));
        }, m =>
        {
            ulong img = Data + Image;
            m.WriteMem(img + 0, 0x0F7FUL | (0x1800UL << 16) | (0x08UL << 32), 8); // FCW, FSW TOP = 3, R3 in use
            m.WriteMem(img + 24, 0x9F80, 4);                                      // MXCSR with FZ
            m.WriteMem(img + 32, 0x8000_0000_0000_0000, 8);                       // ST0 = 2.0
            m.WriteMem(img + 40, 0x4000, 2);
            m.WriteMem(img + 160, 0x1234_5678_9ABC_DEF0, 8);                      // XMM0 low
        });
        Assert.Equal(2UL, m.ReadMem(Data + 0x100, 4));
        Assert.Equal(0x0F7F, m.Cpu.S.Fcw);
        Assert.Equal(0xFFFF, m.Cpu.S.Ftw); // R3 valid, then popped
        Assert.Equal(4 << 11, m.Cpu.S.Fsw);
        Assert.Equal(0x9F80U, m.Cpu.S.Mxcsr);
        Assert.Equal(0x1234_5678_9ABC_DEF0UL, m.Cpu.S.Xmm[0]);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void FxsaveMisalignedRaisesGp(int bits)
    {
        using var m = new TestMachine(bits);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.fxsave(M(bits, 8));
        });
        Assert.Equal(13, m.RunToException());
    }

    [Fact]
    public void FxrstorWithReservedMxcsrBitsRaisesGp()
    {
        using var m = new TestMachine(64);
        m.WriteMem(Data + 24, 0x0001_1F80, 4);
        m.Load(a =>
        {
            a.mov(ebx, (uint)Data);
            a.fxrstor(M(64, 0));
        });
        Assert.Equal(13, m.RunToException());
        Assert.Equal(0x1F80U, m.Cpu.S.Mxcsr);
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void FsaveImageAndFrstor(int bits)
    {
        ulong fip = AddressAfter(bits, a => a.fld1());
        using var m = Run(bits, a =>
        {
            a.fld1();
            a.fldpi();
            a.fnsave(M(bits, 0x100));
            a.fnstsw(W(bits, 0x180)); // FNSAVE reinitialised the FPU
            a.frstor(M(bits, 0x100));
            a.fstp(Tw(bits, 0x190));
        });
        ulong img = Data + 0x100;
        Assert.Equal(0xFFFF_037FUL, m.ReadMem(img + 0, 4));       // upper halves stored as 1s
        Assert.Equal(0xFFFF_0000UL | (6 << 11), m.ReadMem(img + 4, 4));
        Assert.Equal(0xFFFF_0FFFUL, m.ReadMem(img + 8, 4));       // R6 and R7 valid
        Assert.Equal(fip & 0xFFFF_FFFF, m.ReadMem(img + 12, 4));
        Assert.Equal(0x01EB_0000UL, m.ReadMem(img + 16, 4));  // FOP of FLDPI (D9 EB), FCS 0
        Assert.Equal(0xC90F_DAA2_2168_C235UL, m.ReadMem(img + 28, 8)); // ST0 = pi
        Assert.Equal(0x4000UL, m.ReadMem(img + 36, 2));
        Assert.Equal(0x8000_0000_0000_0000UL, m.ReadMem(img + 38, 8)); // ST1 = 1.0
        Assert.Equal(0x3FFFUL, m.ReadMem(img + 46, 2));
        Assert.Equal(0UL, m.ReadMem(Data + 0x180, 2));
        Assert.Equal(0xC90F_DAA2_2168_C235UL, m.ReadMem(Data + 0x190, 8));
        Assert.Equal(7 << 11, m.Cpu.S.Fsw);
        Assert.Equal(0x3FFF, m.Cpu.S.Ftw);
    }

    [Fact]
    public void FldenvLoadsControlStatusAndRecomputesTags()
    {
        using var m = Run(32, a =>
        {
            a.fld1();
            a.fnstenv(M(32, 0x100));
            a.fldenv(M(32, 0x140));
        }, m =>
        {
            ulong env = Data + 0x140;
            m.WriteMem(env + 0, 0x0C7F, 4);       // FCW: round toward zero
            m.WriteMem(env + 4, 0x3800 | 1, 4);   // FSW: TOP = 7, IE pending (masked)
            m.WriteMem(env + 8, 0x0000, 4);       // FTW says all valid: recomputed from contents
        });
        Assert.Equal(0x037FUL, m.ReadMem(Data + 0x100, 2));
        Assert.Equal(0x0C7F, m.Cpu.S.Fcw);
        Assert.Equal(0x3801, m.Cpu.S.Fsw);
        Assert.Equal(0x1555, m.Cpu.S.Ftw); // R7 = 1.0 valid, R0-R6 hold zeros
    }
}

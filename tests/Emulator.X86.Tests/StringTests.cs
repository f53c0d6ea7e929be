using Emulator.X86.Helpers;
using Emulator.X86.State;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

public class StringTests
{
    private const ulong Src = TestMachine.DataAddress;
    private const ulong Dst = TestMachine.DataAddress + 0x10000;

    private static void Fill(TestMachine m, ulong address, int count, Func<int, byte> value)
    {
        for (int i = 0; i < count; i++)
        {
            m.WriteMem(address + (ulong)i, value(i), 1);
        }
    }

    [Fact]
    public void RepMovsbCopiesAcrossPagesAndUpdatesRegisters()
    {
        using var m = new TestMachine();
        const int n = 5000; // crosses page boundaries in both buffers (offsets differ by 0x123)
        Fill(m, Src + 0x123, n, i => (byte)(i * 7 + 1));
        m.Load(a =>
        {
            a.mov(rsi, Src + 0x123);
            a.mov(rdi, Dst + 0x456);
            a.mov(rcx, n);
            a.rep.movsb();
        }).Run();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal((ulong)(byte)(i * 7 + 1), m.ReadMem(Dst + 0x456 + (ulong)i, 1));
        }

        Assert.Equal(0UL, m.ReadMem(Dst + 0x456 + n, 1));
        Assert.Equal(0UL, m[Gpr.Rcx]);
        Assert.Equal(Src + 0x123 + n, m[Gpr.Rsi]);
        Assert.Equal(Dst + 0x456 + n, m[Gpr.Rdi]);
    }

    [Fact]
    public void RepMovsbOverlappingForwardReplicatesTheFirstByte()
    {
        // Destination = source + 1: each byte copies the one just written (not memmove).
        using var m = new TestMachine();
        m.WriteMem(Src, 0xab, 1);
        Fill(m, Src + 1, 100, i => (byte)i);
        m.Load(a =>
        {
            a.mov(rsi, Src);
            a.mov(rdi, Src + 1);
            a.mov(ecx, 100);
            a.rep.movsb();
        }).Run();
        for (int i = 0; i <= 100; i++)
        {
            Assert.Equal(0xabUL, m.ReadMem(Src + (ulong)i, 1));
        }
    }

    [Fact]
    public void RepMovsqOverlappingByFourBytesCopiesElementByElement()
    {
        // MOVSQ with rdi = rsi + 4: element k reads 8 bytes, half of which element k-1 wrote.
        using var m = new TestMachine();
        m.WriteMem(Src, 0x4444_3333_2222_1111, 8);
        m.WriteMem(Src + 8, 0x8888_7777_6666_5555, 8);
        m.Load(a =>
        {
            a.mov(rsi, Src);
            a.mov(rdi, Src + 4);
            a.mov(ecx, 2);
            a.rep.movsq();
        }).Run();

        // After element 0: [4..12) = 0x44443333_22221111. Element 1 reads [8..16) = 0x88887777_44443333 into [12..20).
        Assert.Equal(0x2222_1111UL, m.ReadMem(Src, 4));
        Assert.Equal(0x4444_3333_2222_1111UL, m.ReadMem(Src + 4, 8));
        Assert.Equal(0x8888_7777_4444_3333UL, m.ReadMem(Src + 12, 8));
    }

    [Fact]
    public void RepStosdFillsInThirtyTwoBitCode()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(edi, (uint)Dst);
            a.mov(eax, 0xdead_beef);
            a.mov(ecx, 1500);
            a.rep.stosd();
        }).Run();
        for (int i = 0; i < 1500; i++)
        {
            Assert.Equal(0xdead_beefUL, m.ReadMem(Dst + (ulong)(4 * i), 4));
        }

        Assert.Equal(0UL, m.ReadMem(Dst + 6000, 4));
        Assert.Equal(Dst + 6000, m[Gpr.Rdi]);
        Assert.Equal(0UL, m[Gpr.Rcx]);
    }

    [Fact]
    public void RepStosqAndSingleStosw()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rdi, Dst);
            a.mov(rax, 0x0102_0304_0506_0708);
            a.mov(ecx, 3);
            a.rep.stosq();
            a.mov(ax, 0xbeef);
            a.stosw();
        }).Run();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(0x0102_0304_0506_0708UL, m.ReadMem(Dst + (ulong)(8 * i), 8));
        }

        Assert.Equal(0xbeefUL, m.ReadMem(Dst + 24, 2));
        Assert.Equal(Dst + 26, m[Gpr.Rdi]);
    }

    [Fact]
    public void DirectionFlagRunsBackwards()
    {
        using var m = new TestMachine();
        m.WriteMem(Src, 0x1111_2222_3333_4444, 8);
        m.Load(a =>
        {
            a.std();
            a.mov(rsi, Src + 6);
            a.mov(rdi, Dst + 6);
            a.mov(ecx, 4);
            a.rep.movsw();
            a.lodsw(); // one more, single: reads Src - 2 (zero), rSI -= 2
            a.cld();
        }).Run();
        Assert.Equal(0x1111_2222_3333_4444UL, m.ReadMem(Dst, 8));
        Assert.Equal(Src - 4, m[Gpr.Rsi]);
        Assert.Equal(Dst - 2, m[Gpr.Rdi]);
        Assert.Equal(0UL, m[Gpr.Rax] & 0xffff);
    }

    [Fact]
    public void SingleMovsAndLodsAllSizes()
    {
        using var m = new TestMachine();
        m.WriteMem(Src, 0x8877_6655_4433_2211, 8);
        m.WriteMem(Src + 8, 0x0fed_cba9_8765_4321, 8);
        m.Load(a =>
        {
            a.mov(rsi, Src);
            a.mov(rdi, Dst);
            a.movsb();
            a.movsw();
            a.movsd();
            a.movsb();
            a.mov(rax, ulong.MaxValue);
            a.lodsd();
            a.mov(rbx, rax);
            a.mov(rax, ulong.MaxValue);
            a.lodsb();
        }).Run();
        Assert.Equal(0x8877_6655_4433_2211UL, m.ReadMem(Dst, 8));
        Assert.Equal(0x8765_4321UL, m[Gpr.Rbx]); // a 32-bit load zero-extends
        Assert.Equal(0xffff_ffff_ffff_ffa9UL, m[Gpr.Rax]); // an 8-bit load keeps the rest
        Assert.Equal(Src + 13, m[Gpr.Rsi]);
        Assert.Equal(Dst + 8, m[Gpr.Rdi]);
    }

    [Fact]
    public void RepeCmpsbStopsAtTheFirstDifference()
    {
        using var m = new TestMachine();
        Fill(m, Src, 10, i => (byte)('a' + i));
        Fill(m, Dst, 10, i => (byte)('a' + i));
        m.WriteMem(Dst + 3, 'z', 1);
        m.Load(a =>
        {
            a.mov(rsi, Src);
            a.mov(rdi, Dst);
            a.mov(ecx, 10);
            a.repe.cmpsb();
        }).Run();

        // Stops after comparing element 3 ('d' - 'z'): CX counted it, ZF = 0, CF = 1 ('d' < 'z'), SF = 1.
        Assert.Equal(6UL, m[Gpr.Rcx]);
        Assert.Equal(Src + 4, m[Gpr.Rsi]);
        Assert.Equal(Dst + 4, m[Gpr.Rdi]);
        Assert.False(m.Flag(RFlags.ZF));
        Assert.True(m.Flag(RFlags.CF));
        Assert.True(m.Flag(RFlags.SF));
        Assert.False(m.Flag(RFlags.OF));
    }

    [Fact]
    public void RepeCmpsdThatMatchesEverywhereEndsWithZeroSet()
    {
        using var m = new TestMachine(32);
        Fill(m, Src, 64, i => (byte)i);
        Fill(m, Dst, 64, i => (byte)i);
        m.Load(a =>
        {
            var equal = a.CreateLabel();
            a.mov(esi, (uint)Src);
            a.mov(edi, (uint)Dst);
            a.mov(ecx, 16);
            a.repe.cmpsd();
            a.mov(eax, 1);
            a.je(equal);
            a.mov(eax, 2);
            a.Label(ref equal);
        }).Run();
        Assert.Equal(0UL, m[Gpr.Rcx]);
        Assert.Equal(1UL, m[Gpr.Rax]);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.Equal(Src + 64, m[Gpr.Rsi]);
    }

    [Fact]
    public void RepneScasbFindsTheTerminator()
    {
        using var m = new TestMachine();
        Fill(m, Dst, 20, i => (byte)('A' + i));
        m.WriteMem(Dst + 12, 0, 1);
        m.Load(a =>
        {
            a.mov(rdi, Dst);
            a.xor(eax, eax);
            a.mov(rcx, ulong.MaxValue);
            a.repne.scasb();
            a.not(rcx); // the classic strlen: ~rcx - 1
            a.dec(rcx);
        }).Run();
        Assert.Equal(12UL, m[Gpr.Rcx]);
        Assert.Equal(Dst + 13, m[Gpr.Rdi]);
    }

    [Fact]
    public void RepneScaswRunsOutOfCountWithoutAMatch()
    {
        using var m = new TestMachine(32);
        m.Load(a =>
        {
            a.mov(edi, (uint)Dst);
            a.mov(eax, 0x1234);
            a.mov(ecx, 5);
            a.repne.scasw();
        }).Run();

        // Last comparison 0x1234 - 0: ZF = 0, CF = 0.
        Assert.Equal(0UL, m[Gpr.Rcx]);
        Assert.Equal(Dst + 10, m[Gpr.Rdi]);
        Assert.False(m.Flag(RFlags.ZF));
        Assert.False(m.Flag(RFlags.CF));
    }

    [Fact]
    public void SingleScasqAndCmpswSetFlagsLikeCmp()
    {
        using var m = new TestMachine();
        m.WriteMem(Dst, 5, 8);
        m.WriteMem(Src, 0x8000, 2);
        m.WriteMem(Dst + 8, 0x0001, 2);
        m.Load(a =>
        {
            a.mov(rdi, Dst);
            a.mov(eax, 3);
            a.scasq(); // 3 - 5: CF = 1, SF = 1
            a.setc(bl);
            a.sets(bh);
            a.mov(rsi, Src);
            a.cmpsw(); // 0x8000 - 0x0001 = 0x7fff: OF = 1, CF = 0
            a.seto(dl);
        }).Run();
        Assert.Equal(0x0101UL, m[Gpr.Rbx] & 0xffff);
        Assert.Equal(1UL, m[Gpr.Rdx] & 0xff);
        Assert.False(m.Flag(RFlags.CF));
        Assert.Equal(Dst + 10, m[Gpr.Rdi]);
    }

    [Fact]
    public void ZeroCountChangesNothing()
    {
        using var m = new TestMachine();
        m.WriteMem(Src, 1, 1);
        m.Load(a =>
        {
            a.mov(rsi, 0xffff_0000_0000_0000 | Src);
            a.mov(rdi, Dst);
            a.mov(rcx, 0xffff_ffff_0000_0000); // ECX = 0 under a 32-bit address size
            a.xor(eax, eax); // ZF = 1
            a.db(0x67);
            a.repne.cmpsb();
        }).Run();
        Assert.True(m.Flag(RFlags.ZF));
        Assert.Equal(0xffff_0000_0000_0000 | Src, m[Gpr.Rsi]);
        Assert.Equal(0xffff_ffff_0000_0000UL, m[Gpr.Rcx]);
    }

    [Fact]
    public void AddressSizePrefixUsesEdiAndZeroExtends()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rdi, 0x1234_5678_0000_0000 | Dst);
            a.mov(rcx, 0x1_0000_0004);
            a.mov(al, 0x5a);
            a.db(0x67);
            a.rep.stosb();
        }).Run();
        Assert.Equal(0x5a5a_5a5aUL, m.ReadMem(Dst, 4));
        Assert.Equal(0UL, m.ReadMem(Dst + 4, 1));
        Assert.Equal(Dst + 4, m[Gpr.Rdi]);
        Assert.Equal(0UL, m[Gpr.Rcx]);
    }

    [Fact]
    public void SixteenBitOffsetsWrapAndKeepTheUpperBits()
    {
        using var m = new TestMachine(16);
        m.WriteMem(0xffff, 0x11, 1);
        m.WriteMem(0x0000, 0x22, 1);
        m.Load(a =>
        {
            a.mov(esi, 0xabcd_ffff);
            a.mov(edi, 0x8000);
            a.mov(ecx, 0x7777_0002);
            a.rep.movsb();
        }, 0x1000).Run();
        Assert.Equal(0x2211UL, m.ReadMem(0x8000, 2));
        Assert.Equal(0xabcd_0001UL, m[Gpr.Rsi]);
        Assert.Equal(0x8002UL, m[Gpr.Rdi]);
        Assert.Equal(0x7777_0000UL, m[Gpr.Rcx]);
    }

    [Fact]
    public void SixteenBitSingleStosbWrapsDi()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(di, 0xffff);
            a.mov(al, 0x77);
            a.stosb();
            a.stosb();
        }, 0x1000).Run();
        Assert.Equal(0x77UL, m.ReadMem(0xffff, 1));
        Assert.Equal(0x77UL, m.ReadMem(0, 1));
        Assert.Equal(1UL, m[Gpr.Rdi] & 0xffff);
    }

    [Fact]
    public void SourceSegmentOverrideAndEsBase()
    {
        using var m = new TestMachine(32);
        m.Cpu.S.Fs.Base = 0x30_0000;
        m.Cpu.S.Es.Base = 0x40_0000;
        m.WriteMem(0x30_0010, 0xcafe_f00d, 4);
        m.WriteMem(0x30_0014, 0x1234_5678, 4);
        m.Load(a =>
        {
            a.mov(esi, 0x10);
            a.mov(edi, 0x20);
            a.db(0x64); // FS:
            a.movsd();
            a.mov(ecx, 1);
            a.db(0x64);
            a.rep.movsd();
        }).Run();
        Assert.Equal(0xcafe_f00dUL, m.ReadMem(0x40_0020, 4));
        Assert.Equal(0x1234_5678UL, m.ReadMem(0x40_0024, 4));
        Assert.Equal(0x18UL, m[Gpr.Rsi]);
    }

    [Fact]
    public void SixtyFourBitIgnoresDsAndEsBasesButNotFs()
    {
        using var m = new TestMachine();
        m.Cpu.S.Es.Base = 0x40_0000;
        m.Cpu.S.Ds.Base = 0x40_0000;
        m.Cpu.S.Gs.Base = 0x30_0000;
        m.WriteMem(0x30_0008, 0x99, 1);
        m.Load(a =>
        {
            a.mov(esi, 8);
            a.mov(rdi, Dst);
            a.db(0x65); // GS:
            a.movsb();
        }).Run();
        Assert.Equal(0x99UL, m.ReadMem(Dst, 1));
    }

    [Fact]
    public unsafe void RepLoopYieldsOnExitRequestAndResumes()
    {
        // The helper stops after a chunk when an exit is requested, with registers that let
        // the same instruction carry on later.
        using var m = new TestMachine();
        const int n = 10_000;
        Fill(m, Src, n, i => (byte)(i % 251));
        m[Gpr.Rsi] = Src;
        m[Gpr.Rdi] = Dst;
        m[Gpr.Rcx] = n;
        m.Cpu.S.ExitRequest = 1;
        var rep = HelperTable.Get(StringHelpers.RepMovs.Id);
        ulong stopped = rep(m.Cpu, StringHelpers.Describe(1, 8, true, false), 0, 0, 0);
        Assert.Equal(1UL, stopped);
        ulong done = n - m[Gpr.Rcx];
        Assert.True(done >= 1 && done < n);
        Assert.Equal(Src + done, m[Gpr.Rsi]);
        Assert.Equal(Dst + done, m[Gpr.Rdi]);
        Assert.Equal(0UL, m.ReadMem(Dst + done, 1)); // not copied yet

        m.Cpu.S.ExitRequest = 0;
        m.Load(a => a.rep.movsb());
        m.Run();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal((ulong)(byte)(i % 251), m.ReadMem(Dst + (ulong)i, 1));
        }

        Assert.Equal(0UL, m[Gpr.Rcx]);
        Assert.Equal(Src + n, m[Gpr.Rsi]);
    }

    [Fact]
    public void RepeCmpsInSixteenBitCode()
    {
        using var m = new TestMachine(16);
        m.WriteMem(0x4000, 0x0001_0002_0003, 6);
        m.WriteMem(0x5000, 0x0001_0002_0003, 6);
        m.Load(a =>
        {
            a.mov(si, 0x4000);
            a.mov(di, 0x5000);
            a.mov(cx, 3);
            a.repe.cmpsw();
        }, 0x1000).Run();
        Assert.Equal(0UL, m[Gpr.Rcx] & 0xffff);
        Assert.True(m.Flag(RFlags.ZF));
        Assert.Equal(0x4006UL, m[Gpr.Rsi] & 0xffff);
    }

    [Fact]
    public void StringMovsdAndCmpsdShareTheirMnemonicWithSse()
    {
        using var m = new TestMachine(32);
        m.WriteMem(Src, 0x0102_0304_0506_0708, 8);
        m.Load(a =>
        {
            a.mov(esi, (uint)Src);
            a.mov(edi, (uint)Dst);
            a.mov(ecx, 2);
            a.rep.movsd();
            a.mov(esi, (uint)Src);
            a.mov(edi, (uint)Dst);
            a.cmpsd();
        }).Run();
        Assert.Equal(0x0102_0304_0506_0708UL, m.ReadMem(Dst, 8));
        Assert.True(m.Flag(RFlags.ZF));
        Assert.Equal(Dst + 4, m[Gpr.Rdi]);
    }

    [Fact]
    public void RepStosbOverwritesFollowingCode()
    {
        // The fill lands on the code page being run: the bulk path must not bypass the code
        // write checks, and the overwritten MOV must not run.
        using var m = new TestMachine();
        m.Load(a =>
        {
            var target = a.CreateLabel();
            a.lea(rdi, __[target]);
            a.mov(ecx, 5);
            a.mov(eax, 0x90);
            a.rep.stosb();
            a.Label(ref target);
            a.mov(eax, 0x1234); // B8 34 12 00 00: five bytes, replaced by NOPs
        }).Run();
        Assert.Equal(0x90UL, m[Gpr.Rax]);
        Assert.Equal(0UL, m[Gpr.Rcx]);
    }
}

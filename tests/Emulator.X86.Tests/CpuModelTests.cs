using Emulator.X86.Helpers;
using Emulator.X86.State;
using Iced.Intel;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Emulator.X86.Tests;

/// <summary>
/// CPU models (-cpu): CPUID reports what the model offers, and an instruction of a feature it
/// does not offer raises #UD, so a guest that probes gets the truth.
/// </summary>
public class CpuModelTests
{
    private static (uint Eax, uint Ebx, uint Ecx, uint Edx) Cpuid(CpuModel model, uint leaf, uint subleaf = 0)
    {
        using var m = new TestMachine();
        m.Cpu.Features = model.Features;
        m.Load(a =>
        {
            a.mov(eax, leaf);
            a.mov(ecx, subleaf);
            a.cpuid();
        }).Run();
        return ((uint)m[Gpr.Rax], (uint)m[Gpr.Rbx], (uint)m[Gpr.Rcx], (uint)m[Gpr.Rdx]);
    }

    /// <summary>
    /// Every model reports invariant TSC and IA32_TSC_ADJUST (Linux then trusts the TSC and runs
    /// no clocksource watchdog on it), and TSC_ADJUST behaves as the SDM says (Vol. 3B 17.17.3):
    /// a write to the TSC adds its change to TSC_ADJUST, a write to TSC_ADJUST adds its change to the TSC.
    /// </summary>
    [Fact]
    public void TscAdjustIsReportedAndFollowsWritesToTheTsc()
    {
        foreach (var model in new[] { CpuModel.Qemu64, CpuModel.X86_64_V2, CpuModel.Default })
        {
            Assert.Equal(1u << 1, Cpuid(model, 7).Ebx & (1u << 1));
            Assert.Equal(1u << 8, Cpuid(model, 0x80000007).Edx & (1u << 8));
        }

        using var m = new TestMachine();
        var clock = new FixedClock { Tsc = 1_000_000 };
        m.Cpu.Clock = clock;
        Assert.True(m.Cpu.ReadMsr(Cpu.MsrTscAdjust, out ulong adjust));
        Assert.Equal(0UL, adjust);

        Assert.True(m.Cpu.WriteMsr(Cpu.MsrTsc, 1_000_500));
        Assert.True(m.Cpu.ReadMsr(Cpu.MsrTscAdjust, out adjust));
        Assert.Equal(500UL, adjust);

        clock.Tsc = 2_000_000;
        Assert.True(m.Cpu.WriteMsr(Cpu.MsrTscAdjust, unchecked((ulong)-300)));
        Assert.True(m.Cpu.ReadMsr(Cpu.MsrTsc, out ulong tsc));
        Assert.Equal(1_999_700UL, tsc);
    }

    private sealed class FixedClock : IGuestClock
    {
        public ulong Tsc { get; set; }

        public ulong TscHz => 1_000_000_000;
    }

    [Fact]
    public void X86_64_V2ReportsTheV2FeaturesAndNothingOfV3()
    {
        var (_, _, ecx, _) = Cpuid(CpuModel.X86_64_V2, 1);
        Assert.Equal(1u, ecx & 1); // SSE3
        Assert.Equal(1u, (ecx >> 9) & 1); // SSSE3
        Assert.Equal(HostCas16.IsAvailable ? 1u : 0u, (ecx >> 13) & 1); // CMPXCHG16B
        Assert.Equal(1u, (ecx >> 19) & 1); // SSE4.1
        Assert.Equal(1u, (ecx >> 20) & 1); // SSE4.2
        Assert.Equal(1u, (ecx >> 23) & 1); // POPCNT
        Assert.Equal(0u, (ecx >> 1) & 1); // PCLMULQDQ
        Assert.Equal(0u, (ecx >> 12) & 1); // FMA
        Assert.Equal(0u, (ecx >> 28) & 1); // AVX
        Assert.Equal(0u, (ecx >> 27) & 1); // OSXSAVE
        var (_, ebx7, _, _) = Cpuid(CpuModel.X86_64_V2, 7);
        Assert.Equal(0u, ebx7 & ((1 << 3) | (1 << 5) | (1 << 8))); // BMI1, AVX2, BMI2
        var (_, _, ecxExt, _) = Cpuid(CpuModel.X86_64_V2, 0x80000001);
        Assert.Equal(1u, ecxExt & 1); // LAHF/SAHF in 64-bit mode
    }

    [Fact]
    public void Qemu64ReportsTheBaselineOnly()
    {
        var (_, _, ecx, edx) = Cpuid(CpuModel.Qemu64, 1);
        Assert.Equal(0u, ecx & ((1 << 0) | (1 << 9) | (1 << 19) | (1 << 20) | (1 << 23)));
        Assert.Equal(3u << 25, edx & (3u << 25)); // SSE, SSE2
        var (_, _, ecxExt, _) = Cpuid(CpuModel.Qemu64, 0x80000001);
        Assert.Equal(1u, ecxExt & 1);
    }

    [Fact]
    public void MaxAddsTheExtrasTheFrontendImplements()
    {
        var (_, ebx7, _, _) = Cpuid(CpuModel.Max, 7);
        Assert.Equal((1u << 3) | (1u << 8) | (1u << 19), ebx7 & ((1u << 3) | (1u << 8) | (1u << 19)));
    }

    public static TheoryData<string> V2Instructions() => ["pshufb", "pmulld", "pcmpistri", "crc32", "popcnt", "haddps", "pcmpgtq"];

    [Theory]
    [MemberData(nameof(V2Instructions))]
    public void InstructionsTheModelDoesNotOfferRaiseUd(string which)
    {
        void Emit(Assembler a)
        {
            switch (which)
            {
                case "pshufb": a.pshufb(xmm0, xmm1); break;
                case "pmulld": a.pmulld(xmm0, xmm1); break;
                case "pcmpistri": a.pcmpistri(xmm0, xmm1, 0); break;
                case "crc32": a.crc32(eax, ecx); break;
                case "popcnt": a.popcnt(eax, ecx); break;
                case "haddps": a.haddps(xmm0, xmm1); break;
                case "pcmpgtq": a.pcmpgtq(xmm0, xmm1); break;
            }
        }

        using (var m = new TestMachine())
        {
            m.Cpu.Features = CpuModel.Qemu64.Features;
            m.Load(Emit);
            Assert.Equal(Vector.UD, m.RunToException());
            Assert.Equal(TestMachine.CodeAddress, m.Cpu.S.Rip);
        }

        using (var m = new TestMachine())
        {
            m.Cpu.Features = CpuModel.X86_64_V2.Features;
            m.Load(Emit).Run();
        }
    }

    [Fact]
    public void V3InstructionsRaiseUdUnderV2()
    {
        using var m = new TestMachine();
        m.Cpu.Features = CpuModel.X86_64_V2.Features;
        m.Load(a => a.andn(eax, ebx, ecx));
        Assert.Equal(Vector.UD, m.RunToException());
    }

    /// <summary>F3 0F BC/BD without BMI1/LZCNT is BSF/BSR with an ignored REP prefix (SDM Vol. 2B TZCNT): Linux emits TZCNT for BSF.</summary>
    [Fact]
    public void TzcntAndLzcntAreBsfAndBsrWithoutBmi1AndLzcnt()
    {
        using var m = new TestMachine();
        m.Cpu.Features = CpuModel.X86_64_V2.Features;
        m.Load(a =>
        {
            a.mov(ecx, 0x50);
            a.mov(eax, 77);
            a.tzcnt(eax, ecx); // BSF: 4
            a.mov(ebx, 77);
            a.lzcnt(ebx, ecx); // BSR: 6 (an LZCNT would give 25)
            a.mov(edx, 77);
            a.xor(esi, esi);
            a.tzcnt(edx, esi); // BSF of 0: ZF set, destination unchanged (on this CPU model's hardware)
            a.setz(r8b);
        }).Run();
        Assert.Equal(4UL, m[Gpr.Rax]);
        Assert.Equal(6UL, m[Gpr.Rbx]);
        Assert.Equal(77UL, m[Gpr.Rdx]);
        Assert.Equal(1UL, m[Gpr.R8] & 0xff);
    }

    [Fact]
    public void LahfAndSahfWorkInLongModeUnderEveryModel()
    {
        foreach (var model in CpuModel.All)
        {
            using var m = new TestMachine();
            m.Cpu.Features = model.Features;
            m.Load(a =>
            {
                a.mov(eax, 0xd5 << 8); // SF ZF AF PF CF
                a.sahf();
                a.mov(eax, 0);
                a.lahf();
            }).Run();
            Assert.Equal(0xd7UL, (m[Gpr.Rax] >> 8) & 0xff); // bit 1 always reads 1
        }
    }

    [Fact]
    public void ParseNamesTheKnownModelsOnAnError()
    {
        Assert.Same(CpuModel.X86_64_V2, CpuModel.Parse("x86-64-v2"));
        Assert.Same(CpuModel.Qemu64, CpuModel.Parse("QEMU64"));
        var e = Assert.Throws<ArgumentException>(() => CpuModel.Parse("haswell"));
        Assert.Contains("qemu64, x86-64-v2, max", e.Message);
        Assert.Contains("x86-64-v2", CpuModel.Help());
    }

    /// <summary>
    /// CMPXCHG16B is atomic against another vCPU's plain 64-bit LOCK operations on the same bytes:
    /// one thread increments both halves with the 16-byte compare-and-swap, another adds to the
    /// low half with LOCK XADD (Interlocked, as tier 0 and tier 1 do it). No update may be lost,
    /// whatever the interleaving; a lock around a read-compare-write would lose some.
    /// </summary>
    [Fact]
    public unsafe void HostCompareExchange16IsAtomicAgainstInterlockedAdds()
    {
        Assert.True(HostCas16.IsAvailable || Environment.GetEnvironmentVariable("CI") != "true", "the host has no 16-byte compare-and-swap: CMPXCHG16B is not offered");
        if (!HostCas16.IsAvailable)
        {
            return;
        }

        const int Rounds = 200_000;
        ulong* cell = (ulong*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(16, 16);
        try
        {
            cell[0] = 0;
            cell[1] = 0;
            var casThread = new Thread(() =>
            {
                ulong* expected = stackalloc ulong[2];
                for (int i = 0; i < Rounds; i++)
                {
                    expected[0] = Volatile.Read(ref cell[0]);
                    expected[1] = Volatile.Read(ref cell[1]);
                    while (!HostCas16.CompareExchange(cell, expected, expected[0] + 1, expected[1] + 1))
                    {
                    }
                }
            });
            var addThread = new Thread(() =>
            {
                for (int i = 0; i < Rounds; i++)
                {
                    Interlocked.Add(ref *(long*)cell, 1);
                }
            });
            casThread.Start();
            addThread.Start();
            casThread.Join();
            addThread.Join();
            Assert.Equal(2UL * Rounds, cell[0]);
            Assert.Equal((ulong)Rounds, cell[1]);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(cell);
        }
    }

    [Fact]
    public void Cmpxchg16bSwapsAndReportsZf()
    {
        Assert.True(HostCas16.IsAvailable || Environment.GetEnvironmentVariable("CI") != "true", "the host has no 16-byte compare-and-swap");
        using var m = new TestMachine();
        const ulong Data = TestMachine.DataAddress;
        m.WriteMem(Data, 1, 8);
        m.WriteMem(Data + 8, 2, 8);
        m.Load(a =>
        {
            a.mov(rsi, Data);
            a.mov(eax, 1);
            a.mov(edx, 2);
            a.mov(ebx, 3);
            a.mov(ecx, 4);
            a.@lock.cmpxchg16b(__xmmword_ptr[rsi]);
            a.setz(r8b);
            a.mov(eax, 9);
            a.mov(edx, 9);
            a.@lock.cmpxchg16b(__xmmword_ptr[rsi]);
            a.setz(r9b);
        }).Run();
        Assert.Equal(3UL, m.ReadMem(Data, 8));
        Assert.Equal(4UL, m.ReadMem(Data + 8, 8));
        Assert.Equal(1UL, m[Gpr.R8] & 0xff);
        Assert.Equal(0UL, m[Gpr.R9] & 0xff);
        Assert.Equal(3UL, m[Gpr.Rax]);
        Assert.Equal(4UL, m[Gpr.Rdx]);
    }
}

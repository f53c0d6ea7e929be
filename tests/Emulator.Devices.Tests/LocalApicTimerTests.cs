using Emulator.Devices.Apic;
using Emulator.Devices.Bus;
using Xunit;
using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Tests;

/// <summary>The APIC timer (SDM Vol. 3A 11.5.4) against a fake machine clock; the bus runs at 1 MHz (1 us per tick before division).</summary>
public class LocalApicTimerTests
{
    private const uint TimerVector = 0xEC;
    private readonly ManualTimerService timers = new();
    private readonly LocalApic apic;

    public LocalApicTimerTests()
    {
        apic = ApicTestKit.NewApic(timers).Enabled();
    }

    private int TakeInterrupts()
    {
        int n = 0;
        while (apic.HasPendingInterrupt)
        {
            Assert.Equal((int)TimerVector, apic.AckAndEoi());
            n++;
        }

        return n;
    }

    [Fact]
    public void OneShotCountsDownOnceAndStopsAtZero()
    {
        apic.W(TimerDivideConfig, 0x3); // divide by 16: one tick per 16 us
        apic.W(LvtTimer, TimerVector);
        apic.W(TimerInitialCount, 1000); // expires after 16 ms
        Assert.Equal(1000u, apic.R(TimerCurrentCount));
        timers.AdvanceTo(8_000_000);
        Assert.Equal(500u, apic.R(TimerCurrentCount));
        timers.AdvanceTo(16_000_000 - 1);
        Assert.Equal(1u, apic.R(TimerCurrentCount));
        Assert.Equal(0, TakeInterrupts());
        timers.AdvanceTo(16_000_000);
        Assert.Equal(0u, apic.R(TimerCurrentCount));
        Assert.Equal(1, TakeInterrupts());
        timers.AdvanceTo(100_000_000);
        Assert.Equal(0, TakeInterrupts());
        Assert.Equal(1000u, apic.R(TimerInitialCount)); // the initial count is not consumed
    }

    [Fact]
    public void PeriodicReloadsFromTheInitialCount()
    {
        apic.W(TimerDivideConfig, 0xB); // divide by 1
        apic.W(LvtTimer, (TimerPeriodic << LvtTimerModeShift) | TimerVector);
        apic.W(TimerInitialCount, 100); // every 100 us
        timers.AdvanceTo(100_000);
        Assert.Equal(1, TakeInterrupts());
        timers.AdvanceTo(250_000);
        Assert.Equal(1, TakeInterrupts());
        Assert.Equal(50u, apic.R(TimerCurrentCount));
        timers.AdvanceTo(300_000);
        Assert.Equal(1, TakeInterrupts());
        Assert.Equal(100u, apic.R(TimerCurrentCount));
    }

    [Fact]
    public void LinuxJiffyFromCpuidCrystalLastsExactlyOneJiffyOfMachineTime()
    {
        // Linux sets lapic_timer_period = crystal_khz * 1000 / HZ from CPUID leaf 0x15 (crystal
        // 1 MHz here) and programs initial = period / 16 with divide-by-16. With HZ = 250 that
        // is 4000 / 16 = 250: one interrupt each 4 ms of the machine clock, which the TSC
        // (2 GHz, from the same clock) measures as 8,000,000 cycles.
        apic.W(TimerDivideConfig, 0x3);
        apic.W(LvtTimer, (TimerPeriodic << LvtTimerModeShift) | TimerVector);
        apic.W(TimerInitialCount, 1_000_000 / 250 / 16);
        timers.AdvanceTo(4_000_000 - 1);
        Assert.Equal(0, TakeInterrupts());
        timers.AdvanceTo(4_000_000);
        Assert.Equal(1, TakeInterrupts());
        timers.AdvanceTo(8_000_000);
        Assert.Equal(1, TakeInterrupts());
    }

    [Theory]
    [InlineData(0x0, 2)]
    [InlineData(0x1, 4)]
    [InlineData(0x2, 8)]
    [InlineData(0x3, 16)]
    [InlineData(0x8, 32)]
    [InlineData(0x9, 64)]
    [InlineData(0xA, 128)]
    [InlineData(0xB, 1)]
    public void DivideConfigurationSetsTheTickLength(uint config, uint divisor)
    {
        // SDM Vol. 3A Figure 11-10.
        apic.W(TimerDivideConfig, config);
        apic.W(LvtTimer, 0x1_0000 | TimerVector);
        apic.W(TimerInitialCount, 0xFFFF_FFFF);
        timers.AdvanceTo(256_000); // 256 bus clocks
        Assert.Equal(0xFFFF_FFFF - (256 / divisor), apic.R(TimerCurrentCount));
    }

    [Fact]
    public void MaskedTimerKeepsCountingWithoutInterrupts()
    {
        apic.W(TimerDivideConfig, 0xB);
        apic.W(LvtTimer, LvtMasked | (TimerPeriodic << LvtTimerModeShift) | TimerVector);
        apic.W(TimerInitialCount, 10);
        timers.AdvanceTo(25_000);
        Assert.Equal(0, TakeInterrupts());
        Assert.Equal(5u, apic.R(TimerCurrentCount));
        apic.W(LvtTimer, (TimerPeriodic << LvtTimerModeShift) | TimerVector);
        timers.AdvanceTo(30_000);
        Assert.Equal(1, TakeInterrupts());
    }

    [Fact]
    public void ZeroInitialCountStopsTheTimer()
    {
        apic.W(TimerDivideConfig, 0xB);
        apic.W(LvtTimer, (TimerPeriodic << LvtTimerModeShift) | TimerVector);
        apic.W(TimerInitialCount, 10);
        apic.W(TimerInitialCount, 0);
        timers.AdvanceTo(1_000_000);
        Assert.Equal(0, TakeInterrupts());
        Assert.Equal(0u, apic.R(TimerCurrentCount));
    }

    [Fact]
    public void ChangingTheDivisorKeepsTheCurrentCount()
    {
        apic.W(TimerDivideConfig, 0xB);
        apic.W(LvtTimer, TimerVector);
        apic.W(TimerInitialCount, 100);
        timers.AdvanceTo(40_000);
        Assert.Equal(60u, apic.R(TimerCurrentCount));
        apic.W(TimerDivideConfig, 0x0); // now 2 us per tick: 60 ticks left = 120 us
        Assert.Equal(60u, apic.R(TimerCurrentCount));
        timers.AdvanceTo(159_999);
        Assert.Equal(0, TakeInterrupts());
        timers.AdvanceTo(160_000);
        Assert.Equal(1, TakeInterrupts());
    }

    [Fact]
    public void TscDeadlineFiresWhenTheTscReachesTheDeadlineAndClearsIt()
    {
        // TSC = 2 cycles per ns of machine time (TscHz 2 GHz), as the vCPU derives it.
        apic.W(LvtTimer, (TimerTscDeadline << LvtTimerModeShift) | TimerVector);
        timers.AdvanceTo(1_000);
        ulong deadline = 2_000 + 2_000_000; // 1 ms from now
        apic.WriteTscDeadline(deadline);
        Assert.Equal(deadline, apic.ReadTscDeadline());
        Assert.Equal(0u, apic.R(TimerCurrentCount)); // reads 0 in TSC-deadline mode
        timers.AdvanceTo(1_000_999);
        Assert.Equal(0, TakeInterrupts());
        timers.AdvanceTo(1_001_000);
        Assert.Equal(1, TakeInterrupts());
        Assert.Equal(0ul, apic.ReadTscDeadline()); // SDM Vol. 3A 11.5.4.1: cleared once it fires

        apic.WriteTscDeadline(5); // already passed: fires at once
        Assert.Equal(1, TakeInterrupts());

        apic.WriteTscDeadline(10_000_000);
        apic.WriteTscDeadline(0); // disarms
        timers.AdvanceTo(100_000_000);
        Assert.Equal(0, TakeInterrupts());
    }

    [Fact]
    public void TscDeadlineUsesTheVcpusOwnTsc()
    {
        // A vCPU whose TSC was written (IA32_TIME_STAMP_COUNTER) runs ahead of the machine clock by an offset.
        var offsetApic = new LocalApic(1, false, new RecordingApicBus(), timers, () => timers.NowNs)
        {
            TscHz = 1_000_000_000,
            ReadTsc = () => (ulong)timers.NowNs + 1_000_000_000,
        }.Enabled();
        offsetApic.W(LvtTimer, (TimerTscDeadline << LvtTimerModeShift) | TimerVector);
        offsetApic.WriteTscDeadline(1_000_500_000); // TSC now 1e9: 500 us away
        timers.AdvanceTo(499_999);
        Assert.False(offsetApic.HasPendingInterrupt);
        timers.AdvanceTo(500_000);
        Assert.True(offsetApic.HasPendingInterrupt);
    }

    [Fact]
    public void TscDeadlineMsrIsIgnoredOutsideDeadlineModeAndModeChangesDisarm()
    {
        apic.W(LvtTimer, TimerVector); // one-shot
        apic.WriteTscDeadline(1000);
        Assert.Equal(0ul, apic.ReadTscDeadline());

        apic.W(LvtTimer, (TimerTscDeadline << LvtTimerModeShift) | TimerVector);
        apic.W(TimerInitialCount, 50); // ignored in TSC-deadline mode
        Assert.Equal(0u, apic.R(TimerInitialCount));
        apic.WriteTscDeadline(1_000_000);
        apic.W(LvtTimer, TimerVector); // leaving TSC-deadline mode disarms (SDM Vol. 3A 11.5.4.1)
        apic.W(LvtTimer, (TimerTscDeadline << LvtTimerModeShift) | TimerVector);
        Assert.Equal(0ul, apic.ReadTscDeadline());
        timers.AdvanceTo(10_000_000);
        Assert.Equal(0, TakeInterrupts());

        apic.W(LvtTimer, TimerVector);
        apic.W(TimerDivideConfig, 0xB);
        apic.W(TimerInitialCount, 100);
        apic.W(LvtTimer, (TimerTscDeadline << LvtTimerModeShift) | TimerVector); // disarms the countdown too
        timers.AdvanceTo(20_000_000);
        Assert.Equal(0, TakeInterrupts());
    }

    [Fact]
    public void RestoredTimerContinuesFromTheSavedStart()
    {
        apic.W(TimerDivideConfig, 0xB);
        apic.W(LvtTimer, (TimerPeriodic << LvtTimerModeShift) | TimerVector);
        apic.W(TimerInitialCount, 100);
        timers.AdvanceTo(30_000);
        var state = LocalApic.SavedState.Save(apic);

        var copy = ApicTestKit.NewApic(timers);
        LocalApic.SavedState.Restore(copy, state);
        Assert.Equal(70u, copy.R(TimerCurrentCount));
        timers.AdvanceTo(100_000);
        Assert.True(copy.HasPendingInterrupt);
    }
}

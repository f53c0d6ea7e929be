using Emulator.Devices.Bus;
using Emulator.Devices.Rtc;
using Xunit;

namespace Emulator.Devices.Tests;

public class CmosRtcTests
{
    private static readonly DateTime Start = new(2026, 11, 21, 21, 9, 45, DateTimeKind.Utc); // a Saturday
    private readonly ManualTimerService timers = new();
    private readonly RecordingInterruptLine irq8 = new();
    private readonly CmosRtc rtc;

    public CmosRtcTests()
    {
        rtc = new CmosRtc(irq8, timers, () => timers.NowNs, Start);
    }

    private byte Cmos(int reg)
    {
        rtc.Write(0, 1, (ulong)reg);
        return (byte)rtc.Read(1, 1);
    }

    private void SetCmos(int reg, int value)
    {
        rtc.Write(0, 1, (ulong)reg);
        rtc.Write(1, 1, (ulong)value);
    }

    private void At(long ns) => timers.AdvanceTo(ns);

    [Fact]
    public void ReadsTheStartTimeInBcd()
    {
        Assert.Equal(0x45, Cmos(0x00));
        Assert.Equal(0x09, Cmos(0x02));
        Assert.Equal(0x21, Cmos(0x04));
        Assert.Equal(7, Cmos(0x06));    // Saturday (Sunday = 1)
        Assert.Equal(0x21, Cmos(0x07));
        Assert.Equal(0x11, Cmos(0x08));
        Assert.Equal(0x26, Cmos(0x09));
        Assert.Equal(0x20, Cmos(0x32)); // century
        Assert.Equal(0x80, Cmos(0x0D)); // VRT
    }

    [Fact]
    public void BinaryModeAnd12HourMode()
    {
        SetCmos(0x0B, 0x06); // DM binary, 24 h
        Assert.Equal(45, Cmos(0x00));
        Assert.Equal(21, Cmos(0x04));
        Assert.Equal(26, Cmos(0x09));
        Assert.Equal(20, Cmos(0x32));
        SetCmos(0x0B, 0x00); // BCD, 12 h
        Assert.Equal(0x80 | 0x09, Cmos(0x04)); // 9 PM
        SetCmos(0x0B, 0x04); // binary, 12 h
        Assert.Equal(0x80 | 9, Cmos(0x04));
    }

    [Fact]
    public void TimeFollowsTheMachineClock()
    {
        At(15_000_000_000);
        Assert.Equal(0x00, Cmos(0x00));
        Assert.Equal(0x10, Cmos(0x02));
        At(15_000_000_000 + 3 * 3600_000_000_000L);
        Assert.Equal(0x00, Cmos(0x04)); // midnight
        Assert.Equal(0x22, Cmos(0x07));
        Assert.Equal(1, Cmos(0x06));    // Sunday
        Assert.Equal(new DateTime(2026, 11, 22, 0, 10, 0), rtc.Now);
    }

    [Fact]
    public void UipIsSetFor244MicrosecondsBeforeEachUpdate()
    {
        At(500_000_000);
        Assert.Equal(0, Cmos(0x0A) & 0x80);
        At(1_000_000_000 - 244_000 - 1);
        Assert.Equal(0, Cmos(0x0A) & 0x80);
        At(1_000_000_000 - 244_000);
        Assert.Equal(0x80, Cmos(0x0A) & 0x80);
        Assert.Equal(0x45, Cmos(0x00)); // the update has not happened yet
        At(1_000_000_000);
        Assert.Equal(0, Cmos(0x0A) & 0x80);
        Assert.Equal(0x46, Cmos(0x00));
    }

    [Fact]
    public void RegisterAKeepsDividerAndRateAndUipIsReadOnly()
    {
        SetCmos(0x0A, 0xA6);
        Assert.Equal(0x26, Cmos(0x0A));
    }

    [Fact]
    public void PeriodicInterruptAt1024HzRaisesIrq8UntilRegisterCIsRead()
    {
        SetCmos(0x0A, 0x26); // 32.768 kHz, RS = 6: 976.5625 us
        Cmos(0x0C);
        SetCmos(0x0B, 0x02 | 0x40); // 24 h, PIE
        At(976_562);
        Assert.False(irq8.Level);
        At(976_563);
        Assert.True(irq8.Level);
        Assert.Equal(0xC0, Cmos(0x0C)); // IRQF | PF
        Assert.False(irq8.Level);
        Assert.Equal(0x00, Cmos(0x0C)); // cleared by the read

        int ticks = 1;
        for (int i = 2; i <= 1024; i++)
        {
            At((long)Math.Ceiling(i * 976_562.5));
            if ((Cmos(0x0C) & 0xC0) == 0xC0)
            {
                ticks++;
            }
        }

        Assert.Equal(1024, ticks); // 1024 interrupts in one second
        Assert.Equal(1024, irq8.RisingEdges);
    }

    [Theory]
    [InlineData(0x03, 122_071)]    // 8192 Hz: 122.070 us
    [InlineData(0x0F, 500_000_000)] // 2 Hz
    [InlineData(0x01, 3_906_250)]  // RS 1 repeats rate 8: 256 Hz
    public void PeriodicRateFollowsRegisterA(int rs, long periodNs)
    {
        SetCmos(0x0A, 0x20 | rs);
        SetCmos(0x0B, 0x42);
        At(periodNs - 1);
        Assert.False(irq8.Level);
        At(periodNs);
        Assert.True(irq8.Level);
    }

    [Fact]
    public void FlagsAreSetWithoutInterruptsEnabled()
    {
        SetCmos(0x0A, 0x26);
        Cmos(0x0C);
        At(2_000_000);
        Assert.False(irq8.Level);
        Assert.Equal(0x40, Cmos(0x0C)); // PF without IRQF
        At(1_000_000_000);
        Assert.Equal(0x50, Cmos(0x0C)); // PF and UF
    }

    [Fact]
    public void UpdateEndedInterruptOncePerSecond()
    {
        SetCmos(0x0A, 0x20); // no periodic rate, so PF stays clear
        Cmos(0x0C);
        SetCmos(0x0B, 0x12); // UIE, 24 h
        At(999_999_999);
        Assert.False(irq8.Level);
        At(1_000_000_000);
        Assert.True(irq8.Level);
        Assert.Equal(0x90, Cmos(0x0C));
        At(2_000_000_000);
        Assert.Equal(0x90, Cmos(0x0C));
        Assert.Equal(2, irq8.RisingEdges);
    }

    [Fact]
    public void AlarmInterruptAtTheProgrammedSecond()
    {
        SetCmos(0x01, 0x48);
        SetCmos(0x03, 0x09);
        SetCmos(0x05, 0xC0); // any hour
        SetCmos(0x0A, 0x20); // no periodic rate, so PF stays clear
        Cmos(0x0C);
        SetCmos(0x0B, 0x22); // AIE
        At(2_000_000_000);
        Assert.False(irq8.Level);
        At(3_000_000_000);
        Assert.True(irq8.Level);
        Assert.Equal(0xB0, Cmos(0x0C)); // IRQF | AF | UF
    }

    [Fact]
    public void SettingTheTimeUnderSetMovesTheClock()
    {
        // As Linux mc146818_set_time: SET, then year, month, day, hours, minutes, seconds, then clear SET.
        At(400_000_000);
        SetCmos(0x0B, 0x82);
        SetCmos(0x09, 0x30);
        SetCmos(0x08, 0x02);
        SetCmos(0x07, 0x29); // Feb 29 2030 does not exist, but June 30 follows...
        SetCmos(0x08, 0x06);
        SetCmos(0x07, 0x30);
        SetCmos(0x04, 0x23);
        SetCmos(0x02, 0x59);
        SetCmos(0x00, 0x58);
        Assert.Equal(0x58, Cmos(0x00));
        At(5_000_000_000);
        Assert.Equal(0x58, Cmos(0x00)); // held while SET
        Assert.Equal(0, Cmos(0x0A) & 0x80);
        SetCmos(0x0B, 0x02);
        At(7_000_000_000);
        Assert.Equal(new DateTime(2030, 7, 1, 0, 0, 0), rtc.Now);
        Assert.Equal(0x07, Cmos(0x08));
    }

    [Fact]
    public void WritingASecondsRegisterWithoutSetAdjustsTheClock()
    {
        SetCmos(0x00, 0x10);
        Assert.Equal(0x10, Cmos(0x00));
        Assert.Equal(0x09, Cmos(0x02));
        At(1_000_000_000);
        Assert.Equal(0x11, Cmos(0x00));
    }

    [Fact]
    public void SetClearsUie()
    {
        SetCmos(0x0B, 0x92);
        Assert.Equal(0x82, Cmos(0x0B));
    }

    [Fact]
    public void IndexBit7MasksNmiAndOtherBytesAreRam()
    {
        rtc.Write(0, 1, 0x80 | 0x40);
        Assert.True(rtc.NmiMasked);
        rtc.Write(1, 1, 0x5A);
        Assert.Equal(0x5A, Cmos(0x40));
        Assert.False(rtc.NmiMasked);
        SetCmos(0x7F, 0xA5);
        Assert.Equal(0xA5, Cmos(0x7F));
        Assert.Equal(0xFF, (int)rtc.Read(0, 1));
    }

    [Fact]
    public void StoppedMachineClockStopsTheRtc()
    {
        long now = 0;
        var clocked = new CmosRtc(NullInterruptLine.Instance, new ManualTimerService(), () => now, Start);
        now = 10_000_000_000;
        Assert.Equal(Start.AddSeconds(10), clocked.Now);
        Assert.Equal(Start.AddSeconds(10), clocked.Now); // nothing moves while machine time stands
    }

    [Fact]
    public void SaveRestoreKeepsTimeAndRam()
    {
        SetCmos(0x50, 0x77);
        SetCmos(0x0B, 0x06);
        At(3_000_000_000);
        var state = CmosRtc.SavedState.Save(rtc);
        var t2 = new ManualTimerService();
        t2.AdvanceTo(3_000_000_000);
        var copy = new CmosRtc(NullInterruptLine.Instance, t2, () => t2.NowNs, new DateTime(2000, 1, 1));
        CmosRtc.SavedState.Restore(copy, state);
        Assert.Equal(Start.AddSeconds(3), copy.Now);
        copy.Write(0, 1, 0x50);
        Assert.Equal(0x77UL, copy.Read(1, 1));
        copy.Write(0, 1, 0x00);
        Assert.Equal(48UL, copy.Read(1, 1)); // binary mode restored
    }
}

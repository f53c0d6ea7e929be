using Emulator.Devices.AcpiPm;
using Emulator.Devices.Bus;
using Emulator.Devices.State;
using Xunit;

namespace Emulator.Devices.Tests;

/// <summary>
/// The ACPI PM block driven through its registers (ACPI 6.0, 4.8.3) and the reset register,
/// with the values an OS writes and the spec's expected responses.
/// </summary>
public class AcpiPmTests
{
    private long nowNs;
    private readonly RecordingInterruptLine sci = new();
    private readonly AcpiPmDevice pm;
    private int powerOffs;

    public AcpiPmTests()
    {
        pm = new AcpiPmDevice(() => nowNs, sci);
        pm.PowerOff += () => powerOffs++;
    }

    [Fact]
    public void PowerOnStateIsAcpiModeWithNothingPending()
    {
        Assert.Equal(0x0001UL, pm.Read(4, 2)); // SCI_EN set: the platform has no SMI_CMD to switch modes
        Assert.Equal(0UL, pm.Read(0, 2));
        Assert.Equal(0UL, pm.Read(2, 2));
        Assert.False(sci.Level);
    }

    [Fact]
    public void SciEnCannotBeCleared()
    {
        pm.Write(4, 2, 0x0000);
        Assert.Equal(0x0001UL, pm.Read(4, 2));
    }

    [Fact]
    public void SlpEnWithTheS5TypePowersOff()
    {
        // ACPICA first writes SLP_TYP alone, then SLP_TYP | SLP_EN (ACPI 6.0, 7.4.2 / 16.1.6).
        pm.Write(4, 2, 5 << 10 | 1);
        Assert.Equal(0, powerOffs);
        Assert.Equal((ulong)(5 << 10 | 1), pm.Read(4, 2)); // SLP_TYP reads back, SLP_EN does not
        pm.Write(4, 2, 5 << 10 | 1 << 13 | 1);
        Assert.Equal(1, powerOffs);
        Assert.Equal(0UL, pm.Read(4, 2) & (1 << 13));
    }

    [Fact]
    public void ByteWriteToTheHighHalfOfPm1CntAlsoPowersOff()
    {
        pm.Write(5, 1, (5 << 2) | (1 << 5)); // bits 10-12 and 13 are bits 2-4 and 5 of byte 1
        Assert.Equal(1, powerOffs);
    }

    [Fact]
    public void SlpEnWithAnUndeclaredSleepTypeIsRecordedNotActedOn()
    {
        pm.Write(4, 2, 1 << 10 | 1 << 13); // S1-style type 1: not in the DSDT
        Assert.Equal(0, powerOffs);
        Assert.Equal(1, pm.Unexpected.Count);
    }

    [Fact]
    public void PmTimerCountsAt3579545HzFromTheMachineClock()
    {
        nowNs = 0;
        Assert.Equal(0UL, pm.Read(8, 4));
        nowNs = 1_000_000_000;
        Assert.Equal(3_579_545UL, pm.Read(8, 4));
        nowNs = 1_000; // 1 us = 3.58 ticks
        Assert.Equal(3UL, pm.Read(8, 4));
    }

    [Fact]
    public void PmTimerWrapsAt24Bits()
    {
        nowNs = 10_000_000_000; // 35,795,450 ticks = 2 * 2^24 + 2,241,018
        Assert.Equal(2_241_018UL, pm.Read(8, 4));
        Assert.Equal(0UL, pm.Read(8, 4) >> 24);
        Assert.Equal(2_241_018UL & 0xff, pm.Read(8, 1));
        Assert.Equal((2_241_018UL >> 16) & 0xff, pm.Read(10, 1));
    }

    [Fact]
    public void PmTimerStandsStillWhenTheClockDoes()
    {
        nowNs = 123_456_789;
        ulong a = pm.Read(8, 4);
        ulong b = pm.Read(8, 4);
        Assert.Equal(a, b);
    }

    [Fact]
    public void PmTimerFollowsARealMachineClockPause()
    {
        var clock = new MachineClock();
        var dev = new AcpiPmDevice(() => clock.NowNanoseconds, NullInterruptLine.Instance);
        clock.Pause();
        ulong a = dev.Read(8, 4);
        Thread.Sleep(5);
        Assert.Equal(a, dev.Read(8, 4));
    }

    [Fact]
    public void PowerButtonRaisesSciOnlyWhenEnabledAndStatusIsWriteOneToClear()
    {
        pm.PressPowerButton();
        Assert.Equal(0x0100UL, pm.Read(0, 2)); // PWRBTN_STS is set whether or not it is enabled
        Assert.False(sci.Level);

        pm.Write(2, 2, 0x0100); // PWRBTN_EN
        Assert.True(sci.Level);

        pm.Write(0, 2, 0x0000); // writing 0 changes nothing
        Assert.Equal(0x0100UL, pm.Read(0, 2));
        Assert.True(sci.Level);

        pm.Write(0, 2, 0x0100); // write 1 clears
        Assert.Equal(0UL, pm.Read(0, 2));
        Assert.False(sci.Level);
    }

    [Fact]
    public void DwordAccessCoversStatusAndEnable()
    {
        pm.Write(0, 4, 0x0100_0000); // PM1_EN = PWRBTN_EN through the upper half
        pm.PressPowerButton();
        Assert.Equal(0x0100_0100UL, pm.Read(0, 4));
    }

    [Fact]
    public void ReservedEnableBitsReadAsZero()
    {
        pm.Write(2, 2, 0xffff);
        Assert.Equal(0x0721UL, pm.Read(2, 2)); // TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN
    }

    [Fact]
    public void UnexpectedAccessesAreCountedNotThrown()
    {
        Assert.Equal(0UL, pm.Read(6, 2)); // the hole between PM1_CNT and PM_TMR
        pm.Write(8, 4, 0x1234); // PM_TMR is read-only
        Assert.Equal(0UL, pm.Read(4, 4)); // PM1_CNT is two bytes wide
        Assert.Equal(0UL, pm.Read(1, 2)); // misaligned
        pm.Read(12, 1);
        Assert.Equal(5, pm.Unexpected.Count);
    }

    [Fact]
    public void SaveAndRestoreKeepStatusEnableAndSleepType()
    {
        pm.Write(2, 2, 0x0100);
        pm.PressPowerButton();
        pm.Write(4, 2, 5 << 10);
        var saved = AcpiPmDevice.SavedState.Save(pm);

        var line = new RecordingInterruptLine();
        var copy = new AcpiPmDevice(() => nowNs, line);
        AcpiPmDevice.SavedState.Restore(copy, saved);
        Assert.Equal(0x0100UL, copy.Read(0, 2));
        Assert.Equal(0x0100UL, copy.Read(2, 2));
        Assert.Equal((ulong)(5 << 10 | 1), copy.Read(4, 2));
        Assert.True(line.Level);
        Assert.Throws<DeviceStateException>(() => AcpiPmDevice.SavedState.Load(copy, 99, saved));
    }

    [Fact]
    public void ResetRegisterResetsOnRstCpu()
    {
        var reset = new ResetControlDevice();
        var requests = new List<bool>();
        reset.ResetRequested += hard => requests.Add(hard);

        reset.Write(0, 1, 0x02); // Linux's cf9 method: SYS_RST first ...
        Assert.Empty(requests);
        Assert.Equal(0x02UL, reset.Read(0, 1));
        reset.Write(0, 1, 0x06); // ... then SYS_RST | RST_CPU (also the FADT's RESET_VALUE)
        Assert.Equal([true], requests);
        Assert.Equal(0x02UL, reset.Read(0, 1)); // RST_CPU does not read back

        reset.Write(0, 1, 0x04); // RST_CPU alone: a soft reset
        Assert.Equal([true, false], requests);

        reset.Write(0, 2, 0x0606);
        Assert.Equal(1, reset.Unexpected.Count);
        Assert.Equal(2, requests.Count);
    }

    [Fact]
    public void ResetRegisterStateRoundTrips()
    {
        var reset = new ResetControlDevice();
        reset.Write(0, 1, 0x0a);
        var copy = new ResetControlDevice();
        ResetControlDevice.SavedState.Copy(reset, copy);
        Assert.Equal(0x0aUL, copy.Read(0, 1));
    }
}

using Emulator.Devices.Bus;
using Emulator.Devices.Pic;
using Emulator.Devices.Pit;
using Emulator.Devices.Rtc;
using Emulator.Devices.Serial;
using Xunit;

namespace Emulator.Devices.Tests;

/// <summary>The legacy devices wired to the PIC as on a PC (IRQ 0 PIT, IRQ 4 COM1, IRQ 8 RTC), driven as Linux drives them.</summary>
public class LegacyPcWiringTests
{
    private readonly ManualTimerService timers = new();
    private readonly Pic8259Pair pic = new();
    private readonly Pit8254 pit;
    private readonly Serial16550 uart;
    private readonly CmosRtc rtc;

    public LegacyPcWiringTests()
    {
        pit = new Pit8254(pic.Input(0), timers, () => timers.NowNs);
        uart = new Serial16550(pic.Input(4), _ => { });
        rtc = new CmosRtc(pic.Input(8), timers, () => timers.NowNs, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        // init_8259A: vectors 0x30 and 0x38, slave on IR2, 8086 mode; everything unmasked.
        foreach (var (port, value) in new[] { (0x20, 0x11), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x38), (0xA1, 0x02), (0xA1, 0x01), (0x21, 0x00), (0xA1, 0x00) })
        {
            (port < 0xA0 ? pic.MasterPorts : pic.SlavePorts).Write((ulong)(port & 1), 1, (ulong)value);
        }
    }

    private void MasterEoi() => pic.MasterPorts.Write(0, 1, 0x20);

    private void SlaveEoi() => pic.SlavePorts.Write(0, 1, 0x20);

    [Fact]
    public void PeriodicPitTickArrivesAsVector0x30EveryMillisecond()
    {
        pit.Write(3, 1, 0x34);
        pit.Write(0, 1, 1193 & 0xFF);
        pit.Write(0, 1, 1193 >> 8);
        pic.Acknowledge(); // the control word's rising OUT latched one request
        MasterEoi();
        int ticks = 0;
        for (long t = 100_000; t <= 10_000_000; t += 100_000)
        {
            timers.AdvanceTo(t);
            if (pic.HasInterrupt)
            {
                Assert.Equal(0x30, pic.Acknowledge());
                MasterEoi();
                ticks++;
            }
        }

        Assert.Equal(10, ticks); // 1193 / 1.193182 MHz = 0.99985 ms
    }

    [Fact]
    public void RtcPeriodicInterruptArrivesThroughTheCascadeAsVector0x38()
    {
        rtc.Write(0, 1, 0x0A);
        rtc.Write(1, 1, 0x2F); // 2 Hz
        rtc.Write(0, 1, 0x0B);
        rtc.Write(1, 1, 0x42); // PIE
        timers.AdvanceTo(500_000_000);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x38, pic.Acknowledge());
        rtc.Write(0, 1, 0x0C);
        Assert.Equal(0xC0UL, rtc.Read(1, 1)); // the handler reads C, which lowers IRQ 8
        SlaveEoi();
        MasterEoi();
        Assert.False(pic.HasInterrupt);
        timers.AdvanceTo(1_000_000_000);
        Assert.Equal(0x38, pic.Acknowledge());
    }

    [Fact]
    public void UartThreInterruptArrivesAsVector0x34()
    {
        uart.Write(Serial16550Registers.Mcr, 1, Serial16550Registers.McrOut2);
        uart.Write(Serial16550Registers.Ier, 1, Serial16550Registers.IerEtbei);
        Assert.True(pic.HasInterrupt);
        Assert.Equal(0x34, pic.Acknowledge());
        Assert.Equal(Serial16550Registers.IirThrEmpty, (int)uart.Read(Serial16550Registers.Iir, 1));
        MasterEoi();
        Assert.False(pic.HasInterrupt);
    }
}

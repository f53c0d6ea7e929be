using Emulator.Devices.Bus;
using Emulator.Devices.Pit;
using Xunit;

namespace Emulator.Devices.Tests;

public class Pit8254Tests
{
    private readonly ManualTimerService timers = new();
    private readonly RecordingInterruptLine irq0 = new();
    private readonly Pit8254 pit;

    public Pit8254Tests()
    {
        pit = new Pit8254(irq0, timers, () => timers.NowNs);
    }

    // The first machine time at which `ticks` input clocks (1.193182 MHz) have elapsed since 0.
    private static long TickNs(long ticks) => (long)Math.Ceiling(ticks * 1e9 / 1_193_182);

    private void Out(int port, int value)
    {
        if (port == 0x61)
        {
            pit.PortB.Write(0, 1, (ulong)value);
        }
        else
        {
            pit.Write((ulong)(port - 0x40), 1, (ulong)value);
        }
    }

    private byte In(int port) => port == 0x61 ? (byte)pit.PortB.Read(0, 1) : (byte)pit.Read((ulong)(port - 0x40), 1);

    private void At(long ns) => timers.AdvanceTo(ns);

    [Fact]
    public void TscCalibrationPathChannel2Mode0WithGateFromPort61()
    {
        // Linux pit_calibrate_tsc: gate high, speaker off, channel 2 mode 0 with a 50 ms count,
        // then poll port 0x61 bit 5 until OUT goes high.
        const int latch = 1_193_182 / 20; // 59659
        Out(0x61, (In(0x61) & ~0x02) | 0x01);
        Out(0x43, 0xB0);
        Out(0x42, latch & 0xFF);
        Out(0x42, latch >> 8);
        Assert.Equal(0, In(0x61) & 0x20);
        At(TickNs(latch) - 1);
        Assert.Equal(0, In(0x61) & 0x20);
        At(TickNs(latch));
        Assert.Equal(0x20, In(0x61) & 0x20);
        Assert.InRange(TickNs(latch), 49_999_000, 50_000_000); // 50 ms of machine time
        At(TickNs(latch) + 1_000_000);
        Assert.Equal(0x20, In(0x61) & 0x20); // OUT stays high in mode 0
        Assert.False(irq0.Level);             // counter 2 drives no IRQ
    }

    [Fact]
    public void Channel2DoesNotCountWhileItsGateIsLow()
    {
        Out(0x61, 0x00);
        Out(0x43, 0xB0);
        Out(0x42, 100);
        Out(0x42, 0);
        At(TickNs(1000));
        Assert.Equal(0, In(0x61) & 0x20);
        Assert.Equal(100, pit.CurrentCount(2));
        Out(0x61, 0x01);
        At(TickNs(1000) + TickNs(40));
        Assert.InRange(pit.CurrentCount(2), 59, 60);
        Out(0x61, 0x00); // pause at 60 or 59
        int paused = pit.CurrentCount(2);
        At(TickNs(5000));
        Assert.Equal(paused, pit.CurrentCount(2));
        Out(0x61, 0x01);
        At(TickNs(5000) + TickNs(paused));
        Assert.Equal(0x20, In(0x61) & 0x20);
    }

    [Fact]
    public void QuickCalibrationReadsLsbThenMsbOfTheRunningCount()
    {
        // Linux quick_pit_calibrate: mode 0, count 0xFFFF, then pairs of reads of port 0x42.
        Out(0x61, 0x01);
        Out(0x43, 0xB0);
        Out(0x42, 0xFF);
        Out(0x42, 0xFF);
        At(TickNs(256 * 3));
        int lsb = In(0x42);
        int msb = In(0x42);
        Assert.Equal(0xFFFF - 256 * 3, msb << 8 | lsb);
    }

    [Fact]
    public void Mode2OnChannel0RaisesIrq0OncePerPeriod()
    {
        // Linux pit_set_periodic: 0x34 (counter 0, LSB/MSB, mode 2), LATCH for HZ=1000.
        const int latch = (1_193_182 + 500) / 1000; // 1193
        Out(0x43, 0x34);
        Out(0x40, latch & 0xFF);
        Out(0x40, latch >> 8);
        Assert.True(irq0.Level); // OUT high in mode 2
        int edgesBefore = irq0.RisingEdges;
        At(TickNs(latch * 10L) + 1);
        Assert.Equal(10, irq0.RisingEdges - edgesBefore);

        // OUT is low exactly for the clock in which the count is 1.
        At(TickNs(latch * 11L - 1));
        Assert.False(irq0.Level);
        At(TickNs(latch * 11L));
        Assert.True(irq0.Level);
    }

    [Fact]
    public void Mode2PeriodMatchesTheProgrammedCount()
    {
        Out(0x43, 0x34);
        Out(0x40, 0x00);
        Out(0x40, 0x10); // 4096
        At(TickNs(4095) - 1);
        Assert.Equal(1, irq0.RisingEdges); // only the edge from the control word (OUT high in mode 2)
        Assert.Equal(2, pit.CurrentCount(0));
        At(TickNs(4096));
        Assert.Equal(2, irq0.RisingEdges);
        Assert.Equal(4096, pit.CurrentCount(0));
    }

    [Fact]
    public void Mode2NewCountTakesEffectAtTheEndOfTheCurrentPeriod()
    {
        Out(0x43, 0x34);
        Out(0x40, 100);
        Out(0x40, 0);
        At(TickNs(30));
        Out(0x40, 50);
        Out(0x40, 0);
        Assert.Equal(70, pit.CurrentCount(0)); // the current period runs on
        Out(0x43, 0xE2);                        // read-back: status only, counter 0
        Assert.Equal(0x40, In(0x40) & 0x40);   // NULL COUNT until the new count is loaded
        At(TickNs(99));
        Assert.False(irq0.Level);               // count 1: OUT low
        At(TickNs(100));
        Assert.True(irq0.Level);
        Assert.Equal(2, irq0.RisingEdges);
        At(TickNs(120));
        Assert.Equal(30, pit.CurrentCount(0)); // now counting from 50
        At(TickNs(150));
        Assert.Equal(3, irq0.RisingEdges);
        At(TickNs(200));
        Assert.Equal(4, irq0.RisingEdges);
    }

    [Fact]
    public void Mode4OneShotAsLinuxClockeventGivesOneInterrupt()
    {
        // Linux pit_set_oneshot writes 0x38 (counter 0, LSB/MSB, mode 4); pit_next_event writes the delta.
        Out(0x43, 0x38);
        int edges = irq0.RisingEdges;
        Out(0x40, 1000 & 0xFF);
        Out(0x40, 1000 >> 8);
        At(TickNs(1000) - 1);
        Assert.Equal(edges, irq0.RisingEdges);
        At(TickNs(1000));
        Assert.False(irq0.Level); // the strobe: OUT low for one clock at terminal count
        At(TickNs(1001));
        Assert.True(irq0.Level);
        Assert.Equal(edges + 1, irq0.RisingEdges);
        At(TickNs(200_000));
        Assert.Equal(edges + 1, irq0.RisingEdges); // no strobe when the counter wraps

        // A new count re-arms the one-shot.
        long t0 = timers.NowNs;
        Out(0x40, 50);
        Out(0x40, 0);
        At(t0 + TickNs(52));
        Assert.Equal(edges + 2, irq0.RisingEdges);
    }

    [Fact]
    public void Mode0OnChannel0RaisesIrq0AtTerminalCount()
    {
        Out(0x43, 0x30);
        Assert.False(irq0.Level); // OUT low after the control word in mode 0
        Out(0x40, 0x10);
        Out(0x40, 0x00);
        At(TickNs(15));
        Assert.False(irq0.Level);
        At(TickNs(16));
        Assert.True(irq0.Level);
        Assert.Equal(1, irq0.RisingEdges);
    }

    [Fact]
    public void CounterLatchHoldsTheCountUntilRead()
    {
        Out(0x43, 0x34);
        Out(0x40, 0x00);
        Out(0x40, 0x00); // 65536
        At(TickNs(1000));
        Out(0x43, 0x00); // latch counter 0
        At(TickNs(3000));
        Out(0x43, 0x00); // ignored: the first latch has not been read
        Assert.Equal(65536 - 1000, In(0x40) | In(0x40) << 8);
        Assert.Equal(65536 - 3000, In(0x40) | In(0x40) << 8); // live again
    }

    [Fact]
    public void ReadBackLatchesStatusThenCount()
    {
        Out(0x61, 0x01);
        Out(0x43, 0xB0); // counter 2, LSB/MSB, mode 0, binary
        Out(0x43, 0xE8); // read-back status only, counter 2 (bit 5 = 1: no count); no count written yet
        Assert.Equal(0x40 | 0x30 | 0x00, In(0x42)); // OUT low, null count, RW = 3, mode 0
        Out(0x42, 0x00);
        Out(0x42, 0x02); // 512
        At(TickNs(12));
        Out(0x43, 0xC8); // read-back count and status, counter 2
        Assert.Equal(0x30, In(0x42)); // OUT low, count loaded
        Assert.Equal(512 - 12, In(0x42) | In(0x42) << 8);
        At(TickNs(600));
        Out(0x43, 0xE8);
        Assert.Equal(0x80 | 0x30, In(0x42)); // OUT high after terminal count
    }

    [Fact]
    public void LsbOnlyAndMsbOnlyAccessModes()
    {
        Out(0x61, 0x01);
        Out(0x43, 0x90); // counter 2, LSB only, mode 0
        Out(0x42, 200);
        At(TickNs(50));
        Assert.Equal(150, In(0x42));
        Out(0x43, 0xA0); // counter 2, MSB only
        Out(0x42, 0x02); // 512
        At(TickNs(50) + TickNs(256));
        Assert.Equal(0x01, In(0x42));
    }

    [Fact]
    public void Mode3SquareWaveOnChannel2IsHighHalfAndLowHalf()
    {
        Out(0x61, 0x01);
        Out(0x43, 0xB6); // counter 2, LSB/MSB, mode 3
        Out(0x42, 100);
        Out(0x42, 0);
        Assert.Equal(0x20, In(0x61) & 0x20);
        At(TickNs(49));
        Assert.Equal(0x20, In(0x61) & 0x20);
        At(TickNs(50));
        Assert.Equal(0, In(0x61) & 0x20);
        At(TickNs(99));
        Assert.Equal(0, In(0x61) & 0x20);
        At(TickNs(100));
        Assert.Equal(0x20, In(0x61) & 0x20);
        Out(0x61, 0x00); // gate low forces OUT high
        At(TickNs(160));
        Assert.Equal(0x20, In(0x61) & 0x20);
    }

    [Fact]
    public void Mode1OneShotIsTriggeredByTheGate()
    {
        Out(0x61, 0x00);
        Out(0x43, 0xB2); // counter 2, LSB/MSB, mode 1
        Out(0x42, 10);
        Out(0x42, 0);
        At(TickNs(100));
        Assert.Equal(0x20, In(0x61) & 0x20); // high until triggered
        long t = timers.NowNs;
        Out(0x61, 0x01); // rising edge: trigger
        Assert.Equal(0, In(0x61) & 0x20);
        At(t + TickNs(10));
        Assert.Equal(0x20, In(0x61) & 0x20);
    }

    [Fact]
    public void BcdCountingWrapsAtTenThousand()
    {
        Out(0x61, 0x01);
        Out(0x43, 0xB1); // counter 2, LSB/MSB, mode 0, BCD
        Out(0x42, 0x34);
        Out(0x42, 0x12); // 1234 decimal
        At(TickNs(4));
        Assert.Equal(0x30, In(0x42));
        Assert.Equal(0x12, In(0x42));
        At(TickNs(1234 + 1));
        Out(0x43, 0x80); // latch
        Assert.Equal(0x99, In(0x42)); // 9999 after wrapping through zero
        Assert.Equal(0x99, In(0x42));
    }

    [Fact]
    public void RefreshToggleFlipsOnEveryRead()
    {
        int a = In(0x61) & 0x10;
        int b = In(0x61) & 0x10;
        Assert.NotEqual(a, b);
        Out(0x61, 0x03);
        Assert.Equal(0x03, In(0x61) & 0x0F);
        Assert.True(pit.PortB.SpeakerEnabled);
    }

    [Fact]
    public void ControlWordPortReadsAllOnesAndWrongSizeIsCounted()
    {
        Assert.Equal(0xFF, In(0x43));
        pit.Write(0, 2, 0);
        Assert.Equal(1, pit.Unexpected.Count);
    }

    [Fact]
    public void LateTimerExpiriesStillGiveAnEdgeButDropMissedPeriods()
    {
        var late = new LateTimerService();
        var line = new RecordingInterruptLine();
        var slow = new Pit8254(line, late, () => late.NowNs);
        slow.Write(3, 1, 0x34);
        slow.Write(0, 1, 1193 & 0xFF);
        slow.Write(0, 1, 1193 >> 8);
        int edges = line.RisingEdges;
        for (int step = 1; step <= 10; step++)
        {
            late.AdvanceTo(step * 3_000_000L); // the machine delivers expiries only every 3 ms
            Assert.Equal(edges + step, line.RisingEdges); // one edge per delivery, no burst
        }
    }

    /// <summary>A timer service that delivers expiries late: the clock already reads the later time.</summary>
    private sealed class LateTimerService : ITimerService
    {
        private readonly List<LateTimer> all = [];

        public long NowNs { get; private set; }

        public IDeviceTimer Create(string name, Action<long> expired)
        {
            var t = new LateTimer(expired);
            all.Add(t);
            return t;
        }

        public void AdvanceTo(long ns)
        {
            NowNs = ns;
            for (int guard = 0; guard < 1000; guard++)
            {
                var due = all.FirstOrDefault(t => t.IsArmed && t.Deadline <= ns);
                if (due is null)
                {
                    return;
                }

                due.Fire();
            }

            throw new InvalidOperationException("timer storm");
        }

        private sealed class LateTimer(Action<long> expired) : IDeviceTimer
        {
            public long Deadline { get; private set; }

            public bool IsArmed { get; private set; }

            public void Arm(long deadlineNs)
            {
                Deadline = deadlineNs;
                IsArmed = true;
            }

            public void Cancel() => IsArmed = false;

            public void Fire()
            {
                IsArmed = false;
                expired(Deadline);
            }
        }
    }

    [Fact]
    public void SaveRestoreKeepsCountingAndRearmsIrq0()
    {
        Out(0x43, 0x34);
        Out(0x40, 0xE8);
        Out(0x40, 0x03); // 1000
        At(TickNs(300));
        var state = Pit8254.SavedState.Save(pit);

        var timers2 = new ManualTimerService();
        timers2.AdvanceTo(TickNs(300));
        var line = new RecordingInterruptLine();
        var copy = new Pit8254(line, timers2, () => timers2.NowNs);
        Pit8254.SavedState.Restore(copy, state);
        Assert.Equal(700, copy.CurrentCount(0));
        Assert.True(line.Level);
        timers2.AdvanceTo(TickNs(3000) + 1);
        Assert.Equal(1 + 3, line.RisingEdges);
    }
}

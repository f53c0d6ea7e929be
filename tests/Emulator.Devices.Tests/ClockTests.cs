using System.Diagnostics;
using Emulator.Devices.Bus;
using Xunit;

namespace Emulator.Devices.Tests;

public class ClockTests
{
    [Fact]
    public void PausedClockStandsStillAndResumesWhereItStopped()
    {
        var clock = new MachineClock();
        clock.Pause();
        long t0 = clock.NowNanoseconds;
        ulong tsc0 = clock.Tsc;
        Thread.Sleep(30);
        Assert.Equal(t0, clock.NowNanoseconds);
        Assert.Equal(tsc0, clock.Tsc);
        var sinceResume = Stopwatch.StartNew();
        clock.Resume();
        Thread.Sleep(10);
        long t1 = clock.NowNanoseconds;
        long hostNs = (long)(sinceResume.Elapsed.Ticks * 100);

        // Guest time runs again (it moved by about the 10 ms slept; 5 ms leaves room for a coarse
        // sleep) and did not count the 30 ms it stood paused: however slow the machine, counting
        // them would make it more than the host time since Resume (the clock counts whole 100 ns
        // ticks, hence the 1 us).
        Assert.True(t1 - t0 >= 5_000_000, $"guest time moved {t1 - t0} ns over a 10 ms sleep");
        Assert.True(t1 - t0 <= hostNs + 1_000, $"guest time moved {t1 - t0} ns in {hostNs} ns of host time since Resume");
    }

    [Fact]
    public void ManualTimersFireInDeadlineOrder()
    {
        var timers = new ManualTimerService();
        var fired = new List<string>();
        var a = timers.Create("a", _ => fired.Add("a"));
        var b = timers.Create("b", _ => fired.Add("b"));
        a.Arm(200);
        b.Arm(100);
        timers.AdvanceTo(150);
        Assert.Equal(["b"], fired);
        timers.AdvanceTo(300);
        Assert.Equal(["b", "a"], fired);
        Assert.False(a.IsArmed);
    }
}

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
        clock.Resume();
        Thread.Sleep(10);
        long t1 = clock.NowNanoseconds;
        Assert.InRange(t1 - t0, 5_000_000, 500_000_000); // about 10 ms later, not 40
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

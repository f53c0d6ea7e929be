using Emulator.Devices.Bus;
using Emulator.Machine.Runtime;
using Xunit;

namespace Emulator.Machine.Tests;

/// <summary>
/// Timer expiries around a pause: an expiry whose deadline the machine clock reached before it
/// stopped still runs, and a paused machine is not quiet (not ready to be saved) until it has.
/// A restored device re-arms only the counts still running, so an expiry caught between its
/// deadline and the timer thread by the pause of a snapshot was lost: a guest's one-shot local
/// APIC timer never interrupted again after the restore.
/// </summary>
public sealed class TimerExpiryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(1); // bounds a failing test only

    [Fact]
    public void AnExpiryTheClockReachedFiresWhileTheClockIsStopped()
    {
        var clock = new MachineClock();
        using var timers = new MachineTimerService(clock);
        clock.Pause();
        using var fired = new ManualResetEventSlim();
        long seen = -1;
        var timer = timers.Create("test", deadline =>
        {
            seen = deadline;
            fired.Set();
        });
        long deadline = clock.NowNanoseconds;
        timer.Arm(deadline);
        Assert.True(fired.Wait(Bound), "an expiry the stopped clock had reached did not run");
        Assert.Equal(deadline, seen);
        Assert.True(clock.IsPaused);
    }

    [Fact]
    public void AReachedExpiryIsDueUntilItHasRun()
    {
        var clock = new MachineClock();
        using var timers = new MachineTimerService(clock);
        clock.Pause();
        using var running = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var timer = timers.Create("test", _ =>
        {
            running.Set();
            release.Wait();
        });
        var later = timers.Create("later", _ => { });
        later.Arm(clock.NowNanoseconds + 1_000_000); // not reached: the clock stands still
        Assert.False(timers.HasDueExpiry);

        timer.Arm(clock.NowNanoseconds);
        Assert.True(running.Wait(Bound));
        Assert.True(timers.HasDueExpiry); // running, its effect not yet delivered
        release.Set();
        Assert.True(SpinWait.SpinUntil(() => !timers.HasDueExpiry, Bound));
    }

    /// <summary>
    /// The device's timer reaches its deadline while the machine is paused (the clock is moved past
    /// it, as a pause that came just after the deadline leaves it): quiescing the machine for a
    /// snapshot runs the expiry inside the device before it returns.
    /// </summary>
    [Fact]
    public async Task QuiescingAPausedMachineRunsTheExpiriesItsClockReached()
    {
        CountingDevice? device = null;
        var spec = new DeviceSpec("counter", s => device = new CountingDevice(s.Timers));
        await using var vm = new VirtualMachine("timers", 16 << 20, 1, [spec]);
        vm.StartPaused();
        long now = vm.Clock.NowNanoseconds;
        await vm.DeviceActor("counter").Ask<bool>(r => new DeviceMessage.Event(() =>
        {
            device!.Timer.Arm(now + 5_000_000);
            r.Reply(true);
        }), Bound);

        vm.Clock.Restore(now + 10_000_000);
        await vm.QuiesceAsync();
        int expiries = await vm.DeviceActor("counter").Ask<int>(r => new DeviceMessage.Event(() => r.Reply(device!.Expiries)), Bound);
        Assert.Equal(1, expiries);
    }

    private sealed class CountingDevice
    {
        public CountingDevice(ITimerService timers) => Timer = timers.Create("counter", _ => Expiries++);

        public IDeviceTimer Timer { get; }

        public int Expiries { get; private set; }
    }
}

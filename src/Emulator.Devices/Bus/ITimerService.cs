namespace Emulator.Devices.Bus;

/// <summary>
/// Schedules callbacks at machine-clock deadlines (guest nanoseconds). A device asks for a timer
/// and arms it; the machine delivers the expiry to the device's actor as a message, so the
/// device still sees one event at a time. A paused machine fires nothing.
/// </summary>
public interface ITimerService
{
    /// <summary>A timer that calls <paramref name="expired"/> (with the deadline it was armed for) when it fires.</summary>
    IDeviceTimer Create(string name, Action<long> expired);
}

public interface IDeviceTimer
{
    /// <summary>Fires once at <paramref name="deadlineNs"/> (machine clock); re-arming replaces the previous deadline.</summary>
    void Arm(long deadlineNs);

    void Cancel();

    bool IsArmed { get; }
}

/// <summary>
/// A timer service driven by hand, for device tests: <see cref="AdvanceTo"/> moves a fake clock
/// and fires what is due, in deadline order.
/// </summary>
public sealed class ManualTimerService : ITimerService
{
    private readonly List<ManualTimer> timers = [];

    public long NowNs { get; private set; }

    public IDeviceTimer Create(string name, Action<long> expired)
    {
        var t = new ManualTimer(expired);
        timers.Add(t);
        return t;
    }

    public void AdvanceTo(long ns)
    {
        while (true)
        {
            var due = timers.Where(t => t.IsArmed && t.Deadline <= ns).OrderBy(t => t.Deadline).FirstOrDefault();
            if (due is null)
            {
                break;
            }

            NowNs = due.Deadline;
            due.Fire();
        }

        NowNs = ns;
    }

    private sealed class ManualTimer(Action<long> expired) : IDeviceTimer
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

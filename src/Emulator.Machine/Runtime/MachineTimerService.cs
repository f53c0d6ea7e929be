using Emulator.Devices.Bus;

namespace Emulator.Machine.Runtime;

/// <summary>
/// The machine's timers: one thread that sleeps until the earliest deadline on the machine
/// clock and then runs that timer's expiry, which device hosts turn into a message to the
/// device's actor. While the machine is paused the clock stands still, so only expiries it had
/// already reached fire (those a pause caught before the thread ran them). An expiry
/// that throws is handed to <see cref="Faulted"/> and the thread goes on: one machine's timer
/// never ends the process (and with it every other machine).
/// </summary>
public sealed class MachineTimerService : ITimerService, IDisposable
{
    private readonly MachineClock clock;
    private readonly object gate = new();
    private readonly PriorityQueue<Timer, (long Deadline, long Seq)> queue = new();
    private readonly Thread thread;
    private long seq;
    private bool disposed;
    private bool expiring;

    public MachineTimerService(MachineClock clock)
    {
        this.clock = clock;
        thread = new Thread(Loop) { IsBackground = true, Name = "machine timers" };
        thread.Start();
    }

    /// <summary>Expiries run so far.</summary>
    public long Fired { get; private set; }

    /// <summary>Expiries that threw.</summary>
    public long Faults { get; private set; }

    /// <summary>Called on the timer thread with the timer's name and what its expiry threw (the machine stops itself with it).</summary>
    public Action<string, Exception>? Faulted { get; init; }

    public IDeviceTimer Create(string name, Action<long> expired) => new Timer(this, name, expired);

    /// <summary>
    /// True while an expiry whose deadline the machine clock has reached is queued or running: its
    /// message to a device is not sent yet. A paused machine's devices are quiet only once this is
    /// false (<see cref="VirtualMachine.QuiesceAsync"/>), or a snapshot would miss the expiry.
    /// </summary>
    public bool HasDueExpiry
    {
        get
        {
            lock (gate)
            {
                if (expiring)
                {
                    return true;
                }

                long now = clock.NowNanoseconds;
                foreach (var (t, key) in queue.UnorderedItems)
                {
                    if (t.IsArmed && t.Generation == key.Seq && key.Deadline <= now)
                    {
                        return true;
                    }
                }

                return false;
            }
        }
    }

    /// <summary>Wakes the timer thread to recompute its sleep (after the clock resumes).</summary>
    public void Kick()
    {
        lock (gate)
        {
            Monitor.PulseAll(gate);
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            Monitor.PulseAll(gate);
        }

        thread.Join(TimeSpan.FromSeconds(2));
    }

    private void Schedule(Timer t)
    {
        lock (gate)
        {
            queue.Enqueue(t, (t.Deadline, t.Generation = ++seq));
            Monitor.PulseAll(gate);
        }
    }

    private void Loop()
    {
        while (true)
        {
            Timer? due = null;
            long deadline = 0;
            lock (gate)
            {
                while (!disposed)
                {
                    // Drop entries of timers that were re-armed or cancelled since they were queued.
                    while (queue.TryPeek(out var head, out var key) && (!head.IsArmed || head.Generation != key.Seq))
                    {
                        queue.Dequeue();
                    }

                    if (!queue.TryPeek(out var next, out var nextKey))
                    {
                        Monitor.Wait(gate);
                        continue;
                    }

                    // An expiry the guest's time has reached fires even once the clock has stopped:
                    // the guest lived through its deadline before the pause, and a snapshot taken in
                    // the pause must hold its effect (a restore re-arms only counts still running).
                    long now = clock.NowNanoseconds;
                    if (nextKey.Deadline <= now)
                    {
                        queue.Dequeue();
                        next.IsArmed = false;
                        due = next;
                        deadline = nextKey.Deadline;
                        expiring = true;
                        break;
                    }

                    if (clock.IsPaused)
                    {
                        Monitor.Wait(gate, 50);
                        continue;
                    }

                    long waitMs = Math.Max(1, (nextKey.Deadline - now) / 1_000_000);
                    Monitor.Wait(gate, (int)Math.Min(waitMs, 100));
                }

                if (disposed)
                {
                    return;
                }
            }

            Fired++;
            try
            {
                due!.Expired(deadline);
            }
            catch (Exception e)
            {
                Faults++;
                Faulted?.Invoke(due!.Name, e);
            }
            finally
            {
                lock (gate)
                {
                    expiring = false;
                }
            }
        }
    }

    private sealed class Timer(MachineTimerService owner, string name, Action<long> expired) : IDeviceTimer
    {
        public string Name => name;

        public long Deadline;

        public long Generation;

        public bool IsArmed { get; set; }

        public Action<long> Expired => expired;

        public void Arm(long deadlineNs)
        {
            Deadline = deadlineNs;
            IsArmed = true;
            owner.Schedule(this);
        }

        public void Cancel() => IsArmed = false;
    }
}

using Emulator.Devices.Bus;
using static Emulator.Devices.Pit.Pit8254Registers;

namespace Emulator.Devices.Pit;

/// <summary>
/// The PC's 8254 interval timer at ports 0x40-0x43: three counters clocked at 1.193182 MHz
/// from the machine clock, all six modes, the latch and read-back commands, binary and BCD
/// counting. Counter 0's OUT drives IRQ 0; its timer is armed at the next OUT edge, so nothing
/// polls. Counter 1 (DRAM refresh on old PCs) counts but drives nothing; counter 2's GATE and
/// OUT are reached through <see cref="PortB"/> (port 0x61). Not thread-safe.
/// </summary>
public sealed partial class Pit8254 : IIoDevice
{
    private readonly Func<long> nowNs;
    private readonly IInterruptLine irq0;
    private readonly IDeviceTimer out0Timer;
    private readonly PitChannel[] channels = [new(gate: true), new(gate: true), new(gate: false)];
    private bool irq0Level;

    /// <param name="irq0">The line counter 0's OUT drives (IRQ 0).</param>
    /// <param name="timers">Schedules counter 0's OUT edges.</param>
    /// <param name="nowNs">The machine clock in guest nanoseconds.</param>
    public Pit8254(IInterruptLine irq0, ITimerService timers, Func<long> nowNs, string name = "pit")
    {
        this.irq0 = irq0;
        this.nowNs = nowNs;
        Name = name;
        out0Timer = timers.Create(name + "-out0", OnOut0Edge);
        PortB = new SystemControlPortB(this);
    }

    public string Name { get; }

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>Port 0x61: counter 2's gate, the speaker data bit, the refresh toggle and counter 2's OUT.</summary>
    public SystemControlPortB PortB { get; }

    /// <summary>The current count of counter <paramref name="counter"/> (binary, 0 meaning the full modulus); for monitors and tests.</summary>
    public int CurrentCount(int counter) => channels[counter].CurrentCount(nowNs());

    /// <summary>OUT of counter <paramref name="counter"/> now.</summary>
    public bool Out(int counter) => channels[counter].Out(nowNs());

    public ulong Read(ulong offset, int size)
    {
        if (size != 1 || offset >= PortCount)
        {
            Unexpected.Record(Name, $"read of {size} bytes at +{offset}");
            return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }

        if (offset == ControlWord)
        {
            // The control word register cannot be read (datasheet Table 1: "No-Operation (3-State)").
            return 0xFF;
        }

        return channels[offset].Read(nowNs());
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 1 || offset >= PortCount)
        {
            Unexpected.Record(Name, $"write of {size} bytes at +{offset}");
            return;
        }

        long now = nowNs();
        byte b = (byte)value;
        if (offset != ControlWord)
        {
            channels[offset].WriteCount(b, now);
            if (offset == Counter0)
            {
                UpdateOut0(now);
            }

            return;
        }

        int select = b >> SelectShift;
        int access = b >> AccessShift & 3;
        if (select == ReadBackSelect)
        {
            ReadBack(b, now);
            return;
        }

        var ch = channels[select];
        if (access == AccessLatch)
        {
            ch.LatchCount(now);
            return;
        }

        ch.WriteControl(b >> ModeShift & 7, access, (b & Pit8254Registers.Bcd) != 0);
        if (select == Counter0)
        {
            UpdateOut0(now);
        }
    }

    private void ReadBack(byte command, long now)
    {
        for (int i = 0; i < 3; i++)
        {
            if ((command & (2 << i)) == 0)
            {
                continue;
            }

            // Datasheet "Read-Back Command": if both are latched, the status is read first.
            if ((command & ReadBackNoStatus) == 0)
            {
                channels[i].LatchStatus(now);
            }

            if ((command & ReadBackNoCount) == 0)
            {
                channels[i].LatchCount(now);
            }
        }
    }

    internal void SetGate2(bool level) => channels[Counter2].SetGate(level, nowNs());

    internal bool Out2() => channels[Counter2].Out(nowNs());

    // Drives IRQ 0 from OUT now and arms the timer at the next OUT edge.
    private void UpdateOut0(long now)
    {
        Drive(channels[Counter0].Out(now));
        Arm(channels[Counter0].NextOutChange(now));
    }

    private void OnOut0Edge(long deadline)
    {
        // Evaluate at the deadline so a late expiry still gives the edge it was armed for; if the
        // following edge is already past too, catch up to now (missed periods are dropped, as
        // ticks lost on real hardware while interrupts were held off).
        var ch = channels[Counter0];
        Drive(ch.Out(deadline));
        long next = ch.NextOutChange(deadline);
        long now = nowNs();
        if (next >= 0 && next <= now)
        {
            Drive(ch.Out(now));
            next = ch.NextOutChange(now);
        }

        Arm(next);
    }

    private void Drive(bool level)
    {
        if (level != irq0Level)
        {
            irq0Level = level;
            irq0.Set(level);
        }
    }

    private void Arm(long deadline)
    {
        if (deadline < 0)
        {
            out0Timer.Cancel();
        }
        else
        {
            out0Timer.Arm(deadline);
        }
    }
}

using Emulator.Devices.Bus;
using static Emulator.Devices.Rtc.CmosRtcRegisters;

namespace Emulator.Devices.Rtc;

/// <summary>
/// The PC's MC146818A-compatible CMOS clock at 0x70/0x71 with IRQ 8. The time is a start time
/// plus the machine clock (so it stops while the machine is paused); setting the time moves
/// that base. Periodic and update-ended interrupts are timers on the machine clock; with their
/// interrupt disabled, PF and UF are derived from the time since register C was last read. The
/// alarm flag is only evaluated while AIE or UIE is set. The update cycle takes no time: UIP is
/// high for the 244 us before each second. Bytes other than the clock registers are RAM.
/// Not thread-safe.
/// </summary>
public sealed partial class CmosRtc : IIoDevice
{
    private const long TicksPerSecond = TimeSpan.TicksPerSecond;

    private readonly IInterruptLine irq;
    private readonly Func<long> nowNs;
    private readonly IDeviceTimer periodicTimer;
    private readonly IDeviceTimer updateTimer;
    private readonly byte[] ram = new byte[Size];

    private byte index, regA, regB, secondsAlarm, minutesAlarm, hoursAlarm, flags;
    private long flagsClearedNs;
    private long baseTicks, baseNs;
    private Fields held;
    private bool irqLevel;

    /// <param name="irq">The IRQ 8 line.</param>
    /// <param name="timers">Schedules periodic and update-ended interrupts.</param>
    /// <param name="nowNs">The machine clock in guest nanoseconds.</param>
    /// <param name="startUtc">The time the clock shows at the machine time of construction (the host's UTC time when the machine is created).</param>
    public CmosRtc(IInterruptLine irq, ITimerService timers, Func<long> nowNs, DateTime startUtc, string name = "rtc")
    {
        this.irq = irq;
        this.nowNs = nowNs;
        Name = name;
        periodicTimer = timers.Create(name + "-periodic", OnPeriodic);
        updateTimer = timers.Create(name + "-update", OnUpdate);
        baseTicks = startUtc.Ticks;
        baseNs = nowNs();
        flagsClearedNs = baseNs;

        // What a PC BIOS leaves: 32.768 kHz time base, 1024 Hz rate selected (periodic interrupt
        // off), 24-hour BCD mode.
        regA = ADivider32Khz | 0x06;
        regB = B24Hour;
    }

    public string Name { get; }

    public UnexpectedAccesses Unexpected { get; } = new();

    /// <summary>Port 0x70 bit 7: NMIs are disabled.</summary>
    public bool NmiMasked { get; private set; }

    /// <summary>The clock's current time.</summary>
    public DateTime Now => (regB & BSet) != 0 ? held.ToDateTime() : new DateTime(RtcTicks(nowNs()));

    /// <summary>Reads a CMOS byte without side effects, for the machine (e.g. to fill the RAM at creation).</summary>
    public byte this[int address]
    {
        get => ram[address & (Size - 1)];
        set => ram[address & (Size - 1)] = value;
    }

    public ulong Read(ulong offset, int size)
    {
        if (size != 1 || offset > DataPort)
        {
            Unexpected.Record(Name, $"read of {size} bytes at +{offset}");
            return size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        }

        // The index register is write-only on PC chipsets.
        return offset == IndexPort ? 0xFFUL : ReadRegister(index);
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (size != 1 || offset > DataPort)
        {
            Unexpected.Record(Name, $"write of {size} bytes at +{offset}");
            return;
        }

        if (offset == IndexPort)
        {
            index = (byte)(value & 0x7F);
            NmiMasked = (value & IndexNmiDisable) != 0;
        }
        else
        {
            WriteRegister(index, (byte)value);
        }
    }

    private long RtcTicks(long now) => baseTicks + (now - baseNs) / 100;

    private byte ReadRegister(int reg)
    {
        switch (reg)
        {
            case Seconds or Minutes or Hours or Weekday or DayOfMonth or Month or Year or Century:
                return EncodeField(reg, CurrentFields());
            case SecondsAlarm:
                return secondsAlarm;
            case MinutesAlarm:
                return minutesAlarm;
            case HoursAlarm:
                return hoursAlarm;
            case RegisterA:
                return (byte)(regA | (UpdateInProgress() ? AUip : 0));
            case RegisterB:
                return regB;
            case RegisterC:
                return ReadRegisterC();
            case RegisterD:
                return DVrt; // the battery is good
            default:
                return ram[reg];
        }
    }

    private void WriteRegister(int reg, byte value)
    {
        switch (reg)
        {
            case Seconds or Minutes or Hours or DayOfMonth or Month or Year or Century:
                WriteTimeField(reg, value);
                break;
            case Weekday:
                break; // derived from the date here
            case SecondsAlarm:
                secondsAlarm = value;
                break;
            case MinutesAlarm:
                minutesAlarm = value;
                break;
            case HoursAlarm:
                hoursAlarm = value;
                break;
            case RegisterA:
                CollectFlags(nowNs());
                regA = (byte)(value & ~AUip);
                Rearm();
                break;
            case RegisterB:
                WriteRegisterB(value);
                break;
            case RegisterC or RegisterD:
                Unexpected.Record(Name, $"write to read-only register 0x{reg:X2}");
                break;
            default:
                ram[reg] = value;
                break;
        }
    }

    private void WriteRegisterB(byte value)
    {
        long now = nowNs();
        CollectFlags(now);
        bool wasSet = (regB & BSet) != 0;
        bool set = (value & BSet) != 0;
        if (set && !wasSet)
        {
            // SET stops updates; the time holds while the guest writes it.
            held = Fields.From(new DateTime(RtcTicks(now)));
        }

        if (set)
        {
            value &= unchecked((byte)~BUie); // datasheet: UIE is cleared while SET is 1
        }

        regB = value;
        if (wasSet && !set)
        {
            // Updates resume from the time written, a full second before the next update.
            Rebase(held.ToDateTime().Ticks, now);
        }

        UpdateIrq();
        Rearm();
    }

    private void WriteTimeField(int reg, byte value)
    {
        long now = nowNs();
        int v = Decode(reg, value);
        bool setMode = (regB & BSet) != 0;
        Fields f = setMode ? held : Fields.From(new DateTime(RtcTicks(now)));
        switch (reg)
        {
            case Seconds:
                f.Second = v;
                break;
            case Minutes:
                f.Minute = v;
                break;
            case Hours:
                f.Hour = v;
                break;
            case DayOfMonth:
                f.Day = v;
                break;
            case Month:
                f.Month = v;
                break;
            case Year:
                f.Year = f.Year / 100 * 100 + v % 100;
                break;
            default:
                f.Year = v * 100 + f.Year % 100;
                break;
        }

        if (setMode)
        {
            held = f;
            return;
        }

        // Without SET the write takes effect at once and the clock keeps its phase within the second.
        CollectFlags(now);
        long fraction = RtcTicks(now) % TicksPerSecond;
        Rebase(f.ToDateTime().Ticks + fraction, now);
        Rearm();
    }

    private void Rebase(long ticks, long now)
    {
        baseTicks = ticks;
        baseNs = now;
        flagsClearedNs = now;
    }

    private Fields CurrentFields() => (regB & BSet) != 0 ? held : Fields.From(new DateTime(RtcTicks(nowNs())));

    private bool UpdateInProgress()
    {
        if ((regB & BSet) != 0)
        {
            return false; // SET aborts any update cycle and clears UIP
        }

        long intoSecond = RtcTicks(nowNs()) % TicksPerSecond;
        return intoSecond >= TicksPerSecond - UpdateInProgressNs / 100;
    }

    private byte EncodeField(int reg, Fields f)
    {
        bool binary = (regB & BDm) != 0;
        byte Enc(int v) => binary ? (byte)v : (byte)(v / 10 << 4 | v % 10);
        switch (reg)
        {
            case Seconds:
                return Enc(f.Second);
            case Minutes:
                return Enc(f.Minute);
            case Hours:
                if ((regB & B24Hour) != 0)
                {
                    return Enc(f.Hour);
                }

                int h12 = f.Hour % 12 == 0 ? 12 : f.Hour % 12;
                return (byte)(Enc(h12) | (f.Hour >= 12 ? HoursPm : 0));
            case Weekday:
                return Enc((int)f.ToDateTime().DayOfWeek + 1); // Sunday = 1
            case DayOfMonth:
                return Enc(f.Day);
            case Month:
                return Enc(f.Month);
            case Year:
                return Enc(f.Year % 100);
            default:
                return Enc(f.Year / 100 % 100);
        }
    }

    private int Decode(int reg, byte value)
    {
        bool binary = (regB & BDm) != 0;
        int Dec(int v) => binary ? v : (v >> 4) * 10 + (v & 0xF);
        if (reg == Hours && (regB & B24Hour) == 0)
        {
            int h = Dec(value & 0x7F) % 12;
            return (value & HoursPm) != 0 ? h + 12 : h;
        }

        return Dec(value);
    }

    private byte ReadRegisterC()
    {
        long now = nowNs();
        CollectFlags(now);
        byte value = (byte)(flags | ((flags & regB & (CPf | CAf | CUf)) != 0 ? CIrqf : 0));

        // Reading register C clears every flag and IRQF (datasheet "Register C").
        flags = 0;
        flagsClearedNs = now;
        UpdateIrq();
        return value;
    }

    // Folds into `flags` the periodic and update-ended events since the last clear that no timer
    // delivered (their interrupts were off): the flags are set whatever the enables say.
    private void CollectFlags(long now)
    {
        long periodTicks = PeriodicTicks(regA & ARateMask);
        if (periodTicks != 0 && PeriodIndex(now, periodTicks) > PeriodIndex(flagsClearedNs, periodTicks))
        {
            flags |= CPf;
        }

        if ((regB & BSet) == 0 && RtcTicks(now) / TicksPerSecond > RtcTicks(flagsClearedNs) / TicksPerSecond)
        {
            flags |= CUf;
        }

        flagsClearedNs = now;
    }

    // Periodic interrupts are phase-locked to machine time 0 (the divider chain's start).
    private static long PeriodIndex(long ns, long periodTicks) => (long)((Int128)ns * 32768 / ((Int128)periodTicks * 1_000_000_000));

    private static long PeriodStartNs(long k, long periodTicks) => (long)(((Int128)k * periodTicks * 1_000_000_000 + 32767) / 32768);

    private void UpdateIrq()
    {
        // IRQF = (PF & PIE) | (AF & AIE) | (UF & UIE); the IRQ line follows it until C is read.
        bool level = (flags & regB & (CPf | CAf | CUf)) != 0;
        if (level != irqLevel)
        {
            irqLevel = level;
            irq.Set(level);
        }
    }

    private void Rearm()
    {
        long now = nowNs();
        long periodTicks = PeriodicTicks(regA & ARateMask);
        if ((regB & BPie) != 0 && periodTicks != 0)
        {
            periodicTimer.Arm(PeriodStartNs(PeriodIndex(now, periodTicks) + 1, periodTicks));
        }
        else
        {
            periodicTimer.Cancel();
        }

        if ((regB & (BUie | BAie)) != 0 && (regB & BSet) == 0)
        {
            updateTimer.Arm(NextSecondNs(now));
        }
        else
        {
            updateTimer.Cancel();
        }
    }

    private long NextSecondNs(long now)
    {
        long next = (RtcTicks(now) / TicksPerSecond + 1) * TicksPerSecond;
        return baseNs + (next - baseTicks) * 100;
    }

    private void OnPeriodic(long deadline)
    {
        flags |= CPf;
        UpdateIrq();
        long periodTicks = PeriodicTicks(regA & ARateMask);
        if ((regB & BPie) == 0 || periodTicks == 0)
        {
            return;
        }

        // Late expiries skip the periods already past rather than firing a burst.
        long from = Math.Max(deadline, nowNs());
        periodicTimer.Arm(PeriodStartNs(PeriodIndex(from, periodTicks) + 1, periodTicks));
    }

    private void OnUpdate(long deadline)
    {
        if ((regB & BSet) != 0)
        {
            return;
        }

        flags |= CUf;
        if (AlarmMatches(Fields.From(new DateTime(RtcTicks(deadline)))))
        {
            flags |= CAf;
        }

        UpdateIrq();
        if ((regB & (BUie | BAie)) != 0)
        {
            updateTimer.Arm(NextSecondNs(Math.Max(deadline, nowNs())));
        }
    }

    private bool AlarmMatches(Fields f)
    {
        static bool Match(byte alarm, byte now) => (alarm & AlarmDontCare) == AlarmDontCare || alarm == now;
        return Match(secondsAlarm, EncodeField(Seconds, f))
            && Match(minutesAlarm, EncodeField(Minutes, f))
            && Match(hoursAlarm, EncodeField(Hours, f));
    }

    /// <summary>
    /// A machine reset (the chip's RESET input, as QEMU's rtc_reset): the interrupt enables
    /// (PIE, AIE, UIE, SQWE) and the flags clear and IRQ 8 drops; the time, the alarm, the
    /// time-base and mode bits and CMOS RAM stay (they are battery-backed).
    /// </summary>
    public void Reset()
    {
        regB = (byte)(regB & ~(BPie | BAie | BUie | BSqwe));
        flags = 0;
        flagsClearedNs = nowNs();
        UpdateIrq();
        Rearm();
    }

    /// <summary>Calendar fields as the registers hold them; built into a date only when read whole, so partial writes under SET may pass through invalid dates.</summary>
    private struct Fields
    {
        public int Second, Minute, Hour, Day, Month, Year;

        public static Fields From(DateTime t) => new()
        {
            Second = t.Second,
            Minute = t.Minute,
            Hour = t.Hour,
            Day = t.Day,
            Month = t.Month,
            Year = t.Year,
        };

        /// <summary>The date, with out-of-range fields clamped (the chip would count on from nonsense; clamping keeps the clock usable).</summary>
        public readonly DateTime ToDateTime()
        {
            int year = Math.Clamp(Year, 1, 9999);
            int month = Math.Clamp(Month, 1, 12);
            int day = Math.Clamp(Day, 1, DateTime.DaysInMonth(year, month));
            return new DateTime(year, month, day, Math.Clamp(Hour, 0, 23), Math.Clamp(Minute, 0, 59), Math.Clamp(Second, 0, 59), DateTimeKind.Utc);
        }
    }
}

using static Emulator.Devices.Pit.Pit8254Registers;

namespace Emulator.Devices.Pit;

/// <summary>
/// One 8254 counter. The counting element is not stepped: while it counts, its value and OUT
/// are functions of the machine time since it was loaded (<c>startNs</c>, <c>startValue</c>),
/// at <see cref="Pit8254Registers.InputHz"/>. Gate changes and count writes re-base it. A
/// count takes effect at once (the datasheet's "on the next CLK pulse" is not modelled). A new
/// count written in mode 2 or 3 while counting takes effect at the end of the current period
/// (for mode 3 the datasheet allows the end of either half-cycle; the end of the low one is used).
/// </summary>
internal sealed partial class PitChannel
{
    private int countRegister;
    private bool countWritten, lsbWritten, readMsbNext;
    private byte lsbLatch;
    private bool countLatched, latchedMsbNext, statusLatched;
    private int latchedCount;
    private byte latchedStatus;
    private bool nullCount;

    private bool counting;
    private long startNs;
    private int startValue; // counting element at startNs, 1..modulus
    private int frozenValue; // counting element while not counting, 0..modulus-1
    private bool terminalDone; // mode 0: OUT went high; modes 4/5: the strobe was given

    // Modes 2 and 3: a count written while counting, loaded at the next reload.
    private bool reloadPending;
    private long reloadNs;
    private int reloadValue;

    public PitChannel(bool gate)
    {
        Gate = gate;
        Mode = 0;
        Access = AccessLsbMsb;
    }

    public int Mode { get; private set; }

    public int Access { get; private set; }

    public bool Bcd { get; private set; }

    public bool Gate { get; private set; }

    private int Modulus => Bcd ? 10000 : 0x10000;

    // The count register as a count: 0 stands for the modulus (2^16 binary, 10^4 BCD).
    private int LoadValue
    {
        get
        {
            int n = Bcd ? FromBcd(countRegister) : countRegister;
            return n == 0 ? Modulus : n;
        }
    }

    public void WriteControl(int mode, int access, bool bcd)
    {
        // Datasheet "Write Operations": a control word resets the counter's logic and sets OUT
        // to its initial state (low in mode 0, high otherwise); a new count must follow.
        Mode = mode > 5 ? mode - 4 : mode; // modes 6 and 7 are 2 and 3
        Access = access;
        Bcd = bcd;
        counting = false;
        countWritten = false;
        terminalDone = false;
        reloadPending = false;
        lsbWritten = false;
        readMsbNext = false;
        countLatched = false;
        statusLatched = false;
        nullCount = true;
    }

    public void WriteCount(byte value, long now)
    {
        switch (Access)
        {
            case AccessLsb:
                countRegister = value;
                break;
            case AccessMsb:
                countRegister = value << 8;
                break;
            default:
                if (!lsbWritten)
                {
                    lsbWritten = true;
                    lsbLatch = value;

                    // Mode 0: writing the first byte of a two-byte count stops the count.
                    if (Mode == 0)
                    {
                        Freeze(now);
                    }

                    return;
                }

                lsbWritten = false;
                countRegister = lsbLatch | value << 8;
                break;
        }

        LoadCount(now);
    }

    private void LoadCount(long now)
    {
        Normalize(now);
        countWritten = true;
        nullCount = true;
        switch (Mode)
        {
            case 0:
            case 4:
                // Counting restarts from the new count (OUT low again in mode 0, strobe re-armed in mode 4).
                terminalDone = false;
                if (Gate)
                {
                    Start(now, LoadValue);
                }
                else
                {
                    counting = false;
                    frozenValue = LoadValue % Modulus;
                }

                break;
            case 2:
            case 3:
                if (Gate && counting)
                {
                    // Datasheet modes 2 and 3: a new count does not disturb the current period.
                    long d = Ticks(now);
                    reloadPending = true;
                    reloadNs = TickToNs((d / startValue + 1) * startValue);
                    reloadValue = LoadValue;
                }
                else if (Gate)
                {
                    Start(now, LoadValue);
                }

                break;
            default:
                break; // modes 1 and 5 wait for a rising edge on GATE
        }
    }

    public void SetGate(bool level, long now)
    {
        if (level == Gate)
        {
            return;
        }

        Normalize(now);
        Gate = level;
        switch (Mode)
        {
            case 0:
            case 4:
                // GATE low suspends counting; high resumes it (datasheet modes 0 and 4).
                if (!level)
                {
                    Freeze(now);
                }
                else if (countWritten && !lsbWritten)
                {
                    Start(now, frozenValue == 0 ? Modulus : frozenValue);
                }

                break;
            case 1:
            case 5:
                // A rising edge (re)triggers: reload and start; OUT low until terminal count in mode 1.
                if (level && countWritten)
                {
                    terminalDone = false;
                    Start(now, LoadValue);
                }

                break;
            default:
                // Modes 2 and 3: GATE low stops counting and forces OUT high; a rising edge reloads.
                if (!level)
                {
                    Freeze(now);
                }
                else if (countWritten)
                {
                    Start(now, LoadValue);
                }

                break;
        }
    }

    private void Start(long now, int value)
    {
        reloadPending = false;
        counting = true;
        startNs = now;
        startValue = value;
    }

    private void Freeze(long now)
    {
        Normalize(now);
        reloadPending = false; // a rising GATE reloads from the count register anyway
        if (!counting)
        {
            return;
        }

        long d = Ticks(now);
        frozenValue = Value(d);
        if (Mode == 0 || Mode == 4)
        {
            terminalDone |= d >= startValue;
        }

        counting = false;
    }

    // Applies a pending mode 2/3 reload once its time has come.
    private void Normalize(long now)
    {
        if (reloadPending && now >= reloadNs)
        {
            reloadPending = false;
            startNs = reloadNs;
            startValue = reloadValue;
        }
    }

    private long Ticks(long now) => now <= startNs ? 0 : (long)((Int128)(now - startNs) * InputHz / 1_000_000_000);

    private long TickToNs(long tick) => startNs + (long)(((Int128)tick * 1_000_000_000 + InputHz - 1) / InputHz);

    private int Wrap(long v)
    {
        long m = v % Modulus;
        return (int)(m < 0 ? m + Modulus : m);
    }

    // The counting element after d ticks of counting.
    private int Value(long d)
    {
        switch (Mode)
        {
            case 2:
                return Wrap(startValue - d % startValue);
            case 3:
                // Mode 3 decrements by two, reloading each half period.
                return Wrap(startValue - 2 * d % startValue);
            default:
                return Wrap(startValue - d);
        }
    }

    /// <summary>OUT at machine time <paramref name="now"/>.</summary>
    public bool Out(long now)
    {
        Normalize(now);
        if (!counting)
        {
            return Mode != 0 || terminalDone;
        }

        long d = Ticks(now);
        int n = startValue;
        return Mode switch
        {
            0 => terminalDone || d >= n,
            1 => d >= n,
            2 => d % n != n - 1,            // low for the one clock when the count is 1
            3 => d % n < (n + 1) / 2,        // high for ceil(N/2), low for floor(N/2)
            _ => terminalDone || d != n,     // modes 4 and 5: one clock low at terminal count
        };
    }

    /// <summary>The next machine time after <paramref name="now"/> at which OUT changes, or -1.</summary>
    public long NextOutChange(long now)
    {
        // A pending reload falls on the current period's last edge (OUT rising), which is
        // returned below; the new count applies from that edge on.
        Normalize(now);
        if (!counting)
        {
            return -1;
        }

        long d = Ticks(now);
        int n = startValue;
        long tick;
        switch (Mode)
        {
            case 0:
                if (terminalDone || d >= n)
                {
                    return -1;
                }

                tick = n;
                break;
            case 1:
                if (d >= n)
                {
                    return -1;
                }

                tick = n;
                break;
            case 2:
            case 3:
                if (n < 2)
                {
                    return -1;
                }

                long phase = d % n;
                long period = d - phase;
                long edge = Mode == 2 ? n - 1 : (n + 1) / 2;
                tick = period + (phase < edge ? edge : n);
                break;
            default:
                if (terminalDone || d > n)
                {
                    return -1;
                }

                tick = d < n ? n : n + 1;
                break;
        }

        return TickToNs(tick);
    }

    public int CurrentCount(long now)
    {
        Normalize(now);
        return counting ? Value(Ticks(now)) : frozenValue;
    }

    public void LatchCount(long now)
    {
        // Datasheet "Counter Latch Command": a second latch before the first is read is ignored.
        if (countLatched)
        {
            return;
        }

        int value = CurrentCount(now);
        latchedCount = Bcd ? ToBcd(value) : value;
        countLatched = true;
        latchedMsbNext = false;
    }

    public void LatchStatus(long now)
    {
        if (statusLatched)
        {
            return;
        }

        // NULL COUNT is 1 from a count write until the count reaches the counting element.
        Normalize(now);
        if (nullCount && counting && !reloadPending && Ticks(now) >= 1)
        {
            nullCount = false;
        }

        latchedStatus = (byte)((Out(now) ? StatusOut : 0) | (nullCount ? StatusNullCount : 0)
            | Access << AccessShift | Mode << ModeShift | (Bcd ? Pit8254Registers.Bcd : 0));
        statusLatched = true;
    }

    public byte Read(long now)
    {
        if (statusLatched)
        {
            statusLatched = false;
            return latchedStatus;
        }

        if (countLatched)
        {
            switch (Access)
            {
                case AccessLsb:
                    countLatched = false;
                    return (byte)latchedCount;
                case AccessMsb:
                    countLatched = false;
                    return (byte)(latchedCount >> 8);
                default:
                    if (!latchedMsbNext)
                    {
                        latchedMsbNext = true;
                        return (byte)latchedCount;
                    }

                    countLatched = false;
                    return (byte)(latchedCount >> 8);
            }
        }

        int value = CurrentCount(now);
        if (Bcd)
        {
            value = ToBcd(value);
        }

        switch (Access)
        {
            case AccessLsb:
                return (byte)value;
            case AccessMsb:
                return (byte)(value >> 8);
            default:
                readMsbNext = !readMsbNext;
                return readMsbNext ? (byte)value : (byte)(value >> 8);
        }
    }

    private static int FromBcd(int v) => (v >> 12 & 0xF) % 10 * 1000 + (v >> 8 & 0xF) % 10 * 100 + (v >> 4 & 0xF) % 10 * 10 + (v & 0xF) % 10;

    private static int ToBcd(int v) => v / 1000 % 10 << 12 | v / 100 % 10 << 8 | v / 10 % 10 << 4 | v % 10;

}

using Emulator.Devices.Bus;
using static Emulator.Devices.Apic.LocalApicRegisters;

namespace Emulator.Devices.Apic;

/// <summary>
/// The APIC timer (SDM Vol. 3A 11.5.4): counts down at the APIC bus frequency divided by the
/// divide configuration; one-shot, periodic, or TSC-deadline. Nothing ticks: the current count
/// is computed from the machine clock and the time the count started, and only expiries are
/// scheduled, so pausing the machine pauses the timer.
/// </summary>
public sealed partial class LocalApic
{
    /// <summary>
    /// The APIC bus (timer input) frequency: 1 MHz, the core crystal frequency CPUID leaf 0x15
    /// reports (ECX). Linux takes the APIC timer rate from that leaf instead of calibrating
    /// (native_calibrate_tsc sets lapic_timer_period = crystal_khz * 1000 / HZ), so the two
    /// must agree; a machine that reports another crystal sets <see cref="BusHz"/> to it.
    /// </summary>
    public const ulong DefaultBusHz = 1_000_000;

    private const ulong NsPerSecond = 1_000_000_000;

    private readonly IDeviceTimer timer;
    private uint initialCount, divideConfig;
    private long timerStartNs;
    private ulong tscDeadline;

    public ulong BusHz { get; init; } = DefaultBusHz;

    /// <summary>The vCPU's TSC rate (ticks per second of the machine clock).</summary>
    public ulong TscHz { get; init; } = 2_000_000_000;

    /// <summary>Reads the vCPU's TSC (including its IA32_TIME_STAMP_COUNTER offset); default: the machine clock times <see cref="TscHz"/>.</summary>
    public Func<ulong>? ReadTsc { get; init; }

    private uint TimerMode => (lvtTimer & LvtTimerModeMask) >> LvtTimerModeShift;

    private bool TscDeadlineMode => TimerMode == TimerTscDeadline;

    /// <summary>Divide configuration bits 3,1,0 (SDM Vol. 3A Figure 11-10): 000 = 2, 001 = 4 ... 110 = 128, 111 = 1.</summary>
    private int Divisor
    {
        get
        {
            uint v = ((divideConfig >> 1) & 4) | (divideConfig & 3);
            return v == 7 ? 1 : 2 << (int)v;
        }
    }

    private ulong Tsc(long now) => ReadTsc?.Invoke() ?? (ulong)((UInt128)(ulong)Math.Max(now, 0) * TscHz / NsPerSecond);

    /// <summary>Whole timer ticks in <paramref name="elapsedNs"/> at the current divisor.</summary>
    private ulong TicksIn(long elapsedNs) =>
        elapsedNs <= 0 ? 0 : (ulong)UInt128.Min((UInt128)(ulong)elapsedNs * BusHz / ((UInt128)NsPerSecond * (uint)Divisor), ulong.MaxValue);

    /// <summary>Nanoseconds until <paramref name="ticks"/> ticks have passed (rounded up, so the count has reached them then).</summary>
    private long NsForTicks(ulong ticks)
    {
        UInt128 num = (UInt128)ticks * (uint)Divisor * NsPerSecond;
        return (long)UInt128.Min((num + BusHz - 1) / BusHz, long.MaxValue / 2);
    }

    private uint CurrentCount(long now)
    {
        if (initialCount == 0 || TscDeadlineMode)
        {
            return 0; // TSC-deadline mode reads 0 (SDM Vol. 3A 11.5.4.1)
        }

        ulong ticks = TicksIn(now - timerStartNs);
        if (TimerMode == TimerPeriodic)
        {
            return initialCount - (uint)(ticks % initialCount);
        }

        return ticks >= initialCount ? 0 : initialCount - (uint)ticks;
    }

    private void ResetTimer()
    {
        initialCount = divideConfig = 0;
        tscDeadline = 0;
        timer.Cancel();
    }

    /// <summary>Writing the initial count (re)starts the countdown; ignored in TSC-deadline mode (SDM Vol. 3A 11.5.4.1). Zero stops the timer.</summary>
    private void WriteInitialCount(uint value)
    {
        if (TscDeadlineMode)
        {
            return;
        }

        long now = nowNs();
        initialCount = value;
        timerStartNs = now;
        ArmCountdown(now);
    }

    /// <summary>A new divisor takes effect from the current count on: the elapsed part is re-expressed in the new tick length.</summary>
    private void WriteDivideConfig(uint value)
    {
        long now = nowNs();
        uint current = CurrentCount(now);
        divideConfig = value;
        if (initialCount != 0 && !TscDeadlineMode)
        {
            uint elapsedTicks = current == 0 ? initialCount : initialCount - current;
            timerStartNs = now - NsForTicks(elapsedTicks);
            ArmCountdown(now);
        }
    }

    /// <summary>Changing to or from TSC-deadline mode disarms the timer (SDM Vol. 3A 11.5.4.1); one-shot and periodic switch in place.</summary>
    private void WriteLvtTimer(uint value)
    {
        uint oldMode = TimerMode;
        lvtTimer = value;
        if ((oldMode == TimerTscDeadline) != TscDeadlineMode)
        {
            initialCount = 0;
            tscDeadline = 0;
            timer.Cancel();
        }
        else if (oldMode != TimerMode)
        {
            ArmCountdown(nowNs());
        }
    }

    /// <summary>Arms the expiry that follows <paramref name="now"/>: the end of a one-shot count, or the next period boundary.</summary>
    private void ArmCountdown(long now)
    {
        if (initialCount == 0 || TscDeadlineMode)
        {
            timer.Cancel();
            return;
        }

        ulong ticks = TicksIn(now - timerStartNs);
        ulong target;
        if (TimerMode == TimerPeriodic)
        {
            target = ((ticks / initialCount) + 1) * initialCount;
        }
        else if (ticks < initialCount)
        {
            target = initialCount;
        }
        else
        {
            timer.Cancel();
            return;
        }

        timer.Arm(timerStartNs + NsForTicks(target));
    }

    private void OnTimerExpired(long deadlineNs)
    {
        long now = Math.Max(nowNs(), deadlineNs);
        if (TscDeadlineMode)
        {
            ArmTscDeadline(now);
            return;
        }

        if (initialCount == 0)
        {
            return;
        }

        // Periods missed while the expiry waited are merged into one interrupt, as an IRR bit
        // cannot count them either.
        DeliverTimerInterrupt();
        ArmCountdown(now);
    }

    /// <summary>The count reached zero: the timer LVT's vector, edge-triggered, unless masked (the count goes on regardless).</summary>
    private void DeliverTimerInterrupt()
    {
        if ((lvtTimer & LvtMasked) == 0)
        {
            RequestVector((int)(lvtTimer & LvtVectorMask), levelTriggered: false);
        }
    }

    /// <summary>
    /// WRMSR IA32_TSC_DEADLINE (0x6E0), called by the vCPU's MSR code. In TSC-deadline mode a
    /// nonzero value arms the timer to fire when the TSC reaches it (at once if it already has),
    /// zero disarms it; in other modes the write is ignored (SDM Vol. 3A 11.5.4.1).
    /// </summary>
    public void WriteTscDeadline(ulong value)
    {
        if (!TscDeadlineMode)
        {
            return;
        }

        tscDeadline = value;
        ArmTscDeadline(nowNs());
    }

    /// <summary>RDMSR IA32_TSC_DEADLINE: the armed deadline, 0 once it fired or outside TSC-deadline mode.</summary>
    public ulong ReadTscDeadline() => TscDeadlineMode ? tscDeadline : 0;

    private void ArmTscDeadline(long now)
    {
        if (tscDeadline == 0)
        {
            timer.Cancel();
            return;
        }

        ulong tsc = Tsc(now);
        if (tsc >= tscDeadline)
        {
            tscDeadline = 0; // the MSR reads 0 after the interrupt fires
            timer.Cancel();
            DeliverTimerInterrupt();
            return;
        }

        UInt128 ns = (((UInt128)(tscDeadline - tsc) * NsPerSecond) + TscHz - 1) / TscHz;
        long wait = (long)UInt128.Min(UInt128.Max(ns, 1), (UInt128)(long.MaxValue - Math.Max(now, 0)));
        timer.Arm(now + wait);
    }
}

using System.Diagnostics;
using Emulator.X86;

namespace Emulator.Devices.Bus;

/// <summary>
/// The one clock of a machine. Every guest time source (TSC, PIT, local APIC timer, ACPI PM
/// timer, RTC) derives from <see cref="NowNanoseconds"/>, so they always agree, and pausing the
/// machine stops them all. Thread-safe.
/// </summary>
public sealed class MachineClock : IGuestClock
{
    private readonly object gate = new();
    private long pausedAtNs;
    private long offsetNs;
    private long startTimestamp = Stopwatch.GetTimestamp();
    private bool paused;

    /// <summary>The TSC rate the guest is told about (CPUID leaf 0x15) and sees.</summary>
    public ulong TscHz { get; init; } = 2_000_000_000;

    /// <summary>Guest nanoseconds since the machine was created, not counting pauses.</summary>
    public long NowNanoseconds
    {
        get
        {
            lock (gate)
            {
                return paused ? pausedAtNs : HostNs() - offsetNs;
            }
        }
    }

    public ulong Tsc => (ulong)(NowNanoseconds * (double)TscHz / 1e9);

    public bool IsPaused
    {
        get
        {
            lock (gate)
            {
                return paused;
            }
        }
    }

    public void Pause()
    {
        lock (gate)
        {
            if (!paused)
            {
                pausedAtNs = HostNs() - offsetNs;
                paused = true;
            }
        }
    }

    public void Resume()
    {
        lock (gate)
        {
            if (paused)
            {
                offsetNs = HostNs() - pausedAtNs;
                paused = false;
            }
        }
    }

    /// <summary>Sets the guest time (restoring a snapshot); the clock stays paused or running as it was.</summary>
    public void Restore(long nowNanoseconds)
    {
        lock (gate)
        {
            if (paused)
            {
                pausedAtNs = nowNanoseconds;
            }
            else
            {
                offsetNs = HostNs() - nowNanoseconds;
            }
        }
    }

    private long HostNs() => (long)(Stopwatch.GetElapsedTime(startTimestamp).Ticks * 100);
}

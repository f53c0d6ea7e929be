using System.Diagnostics;

namespace Emulator.Machine.Migration;

/// <summary>
/// Guest-visible downtime as the host sees it. A guest that prints continuously on its serial
/// line is timed on the host: the gap between the last byte the source machine sent and the first
/// byte the target machine sent is how long the guest's work stopped, pause, transfer, restore
/// and start included. The guest's own clocks cannot show it: every guest time source follows
/// the machine clock, which stops while the machine is paused and is restored on the target, so
/// a guest-side clock loop sees only the moments the machine ran (see RATIONALE.md).
/// Pass <see cref="Source"/> and <see cref="Target"/> as the two machines' serial outputs.
/// Thread-safe.
/// </summary>
public sealed class OutputGap
{
    private long lastSource, firstTarget, largestSourceGap, sourceBytes, targetBytes;

    /// <summary>The source machine's serial output.</summary>
    public void Source(ReadOnlySpan<byte> bytes)
    {
        long now = Stopwatch.GetTimestamp();
        long last = Interlocked.Exchange(ref lastSource, now);
        if (last != 0 && now - last > Interlocked.Read(ref largestSourceGap))
        {
            Interlocked.Exchange(ref largestSourceGap, now - last);
        }

        Interlocked.Add(ref sourceBytes, bytes.Length);
    }

    /// <summary>The target machine's serial output.</summary>
    public void Target(ReadOnlySpan<byte> bytes)
    {
        Interlocked.CompareExchange(ref firstTarget, Stopwatch.GetTimestamp(), 0);
        Interlocked.Add(ref targetBytes, bytes.Length);
    }

    public long SourceBytes => Interlocked.Read(ref sourceBytes);

    public long TargetBytes => Interlocked.Read(ref targetBytes);

    /// <summary>From the source's last byte to the target's first; null until both have printed.</summary>
    public TimeSpan? Gap
    {
        get
        {
            long last = Interlocked.Read(ref lastSource), first = Interlocked.Read(ref firstTarget);
            return last == 0 || first == 0 ? null : Stopwatch.GetElapsedTime(last, first);
        }
    }

    /// <summary>The largest gap between two bytes of the source: how steadily the guest printed before it moved (the measure's resolution).</summary>
    public TimeSpan LargestSourceGap => TimeSpan.FromSeconds((double)Interlocked.Read(ref largestSourceGap) / Stopwatch.Frequency);
}

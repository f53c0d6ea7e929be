using System.Diagnostics;
using Emulator.Devices.Bus;

namespace Emulator.Devices.Serial;

/// <summary>
/// One span per burst of bytes a UART moves, per direction ("uart tx burst": guest to host,
/// "uart rx burst": host into the receiver FIFO), instead of one per byte. A burst starts at its
/// first byte and ends at its last, once no byte has moved for <see cref="IdleGapNs"/> of machine
/// time or when it reaches <see cref="MaxBurstBytes"/>; the machine ends any open burst when it
/// stops (<see cref="Flush"/>). See RATIONALE.md beside this file for the gap and the clock.
///
/// Per byte this costs a listener check and, while tracing, a clock read; the span itself is
/// made once per burst, when it ends. Runs inside the UART's actor like the UART itself.
/// </summary>
public sealed class SerialBurstTrace
{
    /// <summary>2 ms: far above the gaps inside a guest's write or a paste, far below a typist's.</summary>
    public const long IdleGapNs = 2_000_000;

    /// <summary>A burst ends at 4 KiB, so a long stream still gives spans while it flows.</summary>
    public const int MaxBurstBytes = 4096;

    public const string TxSpanName = "uart tx burst";
    public const string RxSpanName = "uart rx burst";
    public const string DirectionTag = "device.direction";

    private readonly Burst tx;
    private readonly Burst rx;

    /// <param name="trace">The device and machine the spans name.</param>
    /// <param name="timers">Timers that run inside the UART's actor, to end idle bursts.</param>
    /// <param name="nowNs">The machine clock.</param>
    public SerialBurstTrace(DeviceTrace trace, ITimerService timers, Func<long> nowNs)
    {
        tx = new Burst(trace, TxSpanName, "tx", timers, nowNs);
        rx = new Burst(trace, RxSpanName, "rx", timers, nowNs);
    }

    /// <summary>Bytes that left the transmitter for the host.</summary>
    public void Transmitted(int bytes) => tx.Moved(bytes);

    /// <summary>Bytes from the host that entered the receiver.</summary>
    public void Received(int bytes) => rx.Moved(bytes);

    /// <summary>Ends the open bursts now (the machine is stopping).</summary>
    public void Flush()
    {
        tx.End();
        rx.End();
    }

    private sealed class Burst
    {
        private readonly DeviceTrace trace;
        private readonly string spanName;
        private readonly string direction;
        private readonly Func<long> nowNs;
        private readonly IDeviceTimer idle;
        private DateTime firstUtc;
        private long firstNs, lastNs;
        private int count;

        public Burst(DeviceTrace trace, string spanName, string direction, ITimerService timers, Func<long> nowNs)
        {
            this.trace = trace;
            this.spanName = spanName;
            this.direction = direction;
            this.nowNs = nowNs;
            idle = timers.Create($"{trace.Device} {direction} burst", OnIdleTimer);
        }

        public void Moved(int bytes)
        {
            if (bytes <= 0 || (count == 0 && !DeviceTrace.Enabled))
            {
                return;
            }

            long now = nowNs();
            if (count > 0 && now - lastNs >= IdleGapNs)
            {
                // The timer has not run yet (its expiry is queued behind this byte): the gap still ends the burst.
                End();
            }

            if (count == 0)
            {
                firstUtc = DateTime.UtcNow;
                firstNs = now;
                idle.Arm(now + IdleGapNs);
            }

            lastNs = now;
            count += bytes;
            if (count >= MaxBurstBytes)
            {
                End();
            }
        }

        public void End()
        {
            if (count == 0)
            {
                return;
            }

            idle.Cancel();

            // Machine time between the first and last byte: the clock the gap is measured on, and
            // it leaves out time the machine spent paused.
            var span = trace.Open(spanName, firstUtc);
            span?.SetTag(DirectionTag, direction);
            span?.SetTag(DeviceTrace.BytesTag, count);
            DeviceTrace.Close(span, firstUtc.AddTicks((lastNs - firstNs) / 100));
            count = 0;
        }

        private void OnIdleTimer(long deadline)
        {
            if (count == 0)
            {
                return;
            }

            long quietUntil = lastNs + IdleGapNs;
            if (nowNs() >= quietUntil)
            {
                End();
            }
            else
            {
                idle.Arm(quietUntil);
            }
        }
    }
}

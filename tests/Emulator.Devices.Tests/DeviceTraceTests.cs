using System.Diagnostics;
using Emulator.Devices.Bus;
using Emulator.Devices.Serial;
using Emulator.Devices.Virtio;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Devices.Tests;

/// <summary>
/// Device spans through a plain ActivityListener: UART bursts on a hand-driven machine clock, and
/// one span per virtio-blk request. Each test names its own machine, since listeners are global.
/// </summary>
public sealed class DeviceTraceTests : IDisposable
{
    private readonly string machine = "trace-" + Guid.NewGuid().ToString("N");
    private readonly List<Activity> spans = [];
    private readonly ActivityListener listener;
    private readonly ManualTimerService timers = new();

    public DeviceTraceTests()
    {
        listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == DeviceTrace.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if ((string?)a.GetTagItem(DeviceTrace.MachineIdTag) == machine)
                {
                    lock (spans)
                    {
                        spans.Add(a);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
    }

    public void Dispose() => listener.Dispose();

    private (Serial16550 Uart, SerialBurstTrace Bursts) Uart()
    {
        var bursts = new SerialBurstTrace(new DeviceTrace("uart0", () => machine), timers, () => timers.NowNs);
        var uart = new Serial16550(new RecordingInterruptLine(), _ => { }) { Bursts = bursts };
        uart.Write(2, 1, 1); // FCR: FIFOs on, so the receiver holds 16 bytes
        return (uart, bursts);
    }

    private void Transmit(Serial16550 uart, int count, long stepNs)
    {
        for (int i = 0; i < count; i++)
        {
            uart.Write(0, 1, (byte)('a' + i % 26));
            timers.AdvanceTo(timers.NowNs + stepNs);
        }
    }

    [Fact]
    public void ABurstOfTransmittedBytesIsOneSpanFromFirstToLastByte()
    {
        var (uart, _) = Uart();
        Transmit(uart, 10, 1_000); // a byte every microsecond
        Assert.Empty(spans); // still within the idle gap
        timers.AdvanceTo(timers.NowNs + SerialBurstTrace.IdleGapNs);

        var span = Assert.Single(spans);
        Assert.Equal(SerialBurstTrace.TxSpanName, span.DisplayName);
        Assert.Equal("uart0", span.GetTagItem(DeviceTrace.DeviceTag));
        Assert.Equal("tx", span.GetTagItem(SerialBurstTrace.DirectionTag));
        Assert.Equal(10, span.GetTagItem(DeviceTrace.BytesTag));
        Assert.Equal(TimeSpan.FromMicroseconds(9), span.Duration); // first byte at 0, last at 9 us
    }

    [Fact]
    public void AnIdleGapSplitsTwoBursts()
    {
        var (uart, _) = Uart();
        Transmit(uart, 3, 1_000);
        timers.AdvanceTo(timers.NowNs + 5_000_000);
        Transmit(uart, 4, 1_000);
        timers.AdvanceTo(timers.NowNs + 5_000_000);

        Assert.Equal([3, 4], spans.Select(s => (int)s.GetTagItem(DeviceTrace.BytesTag)!));
        Assert.True(spans[1].StartTimeUtc >= spans[0].StartTimeUtc + spans[0].Duration);
    }

    [Fact]
    public void AGapJustUnderTheThresholdKeepsOneBurst()
    {
        var (uart, _) = Uart();
        Transmit(uart, 2, SerialBurstTrace.IdleGapNs - 1);
        timers.AdvanceTo(timers.NowNs + SerialBurstTrace.IdleGapNs);

        Assert.Equal(2, Assert.Single(spans).GetTagItem(DeviceTrace.BytesTag));
    }

    [Fact]
    public void ALongStreamIsCutAtTheSizeCap()
    {
        var (uart, bursts) = Uart();
        Transmit(uart, SerialBurstTrace.MaxBurstBytes + 10, 0);
        Assert.Equal(SerialBurstTrace.MaxBurstBytes, Assert.Single(spans).GetTagItem(DeviceTrace.BytesTag));

        bursts.Flush(); // the machine stopping ends the rest
        Assert.Equal(10, spans[1].GetTagItem(DeviceTrace.BytesTag));
        bursts.Flush();
        Assert.Equal(2, spans.Count); // nothing open, nothing more
    }

    [Fact]
    public void ReceivedBytesAreAnRxSpan()
    {
        var (uart, _) = Uart();
        uart.Receive("hello"u8);
        timers.AdvanceTo(timers.NowNs + 1_000);
        uart.Receive("!!"u8);
        timers.AdvanceTo(timers.NowNs + SerialBurstTrace.IdleGapNs);

        var span = Assert.Single(spans);
        Assert.Equal(SerialBurstTrace.RxSpanName, span.DisplayName);
        Assert.Equal("rx", span.GetTagItem(SerialBurstTrace.DirectionTag));
        Assert.Equal(7, span.GetTagItem(DeviceTrace.BytesTag));
    }

    [Fact]
    public void LoopbackBytesAreNotTraced()
    {
        var (uart, bursts) = Uart();
        uart.Write(4, 1, 0x10); // MCR.LOOP
        Transmit(uart, 5, 0);
        bursts.Flush();
        Assert.Empty(spans);
    }

    [Fact]
    public void OnlyTheDataRegisterIsTracedByTheUartItself()
    {
        var (uart, _) = Uart();
        Assert.True(uart.TracesAccess(0));
        Assert.False(uart.TracesAccess(5)); // LSR keeps its per-access span
        Assert.False(new Serial16550(new RecordingInterruptLine(), _ => { }).TracesAccess(0)); // no bursts, no suppression
    }

    [Fact]
    public void EachVirtioBlkRequestIsASpanWithOperationSectorBytesAndStatus()
    {
        using var ram = new GuestMemory(1 << 20);
        var backend = new MemoryBlockBackend(Pattern(64 * SectorSize, 3));
        var device = new Blk(backend) { Trace = new DeviceTrace("virtio-blk0", () => machine) };
        var transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), new RecordingInterruptLine());
        var driver = new VirtioTestDriver(transport, ram);
        driver.Initialize(Version1 | (1UL << FeatureFlush));

        driver.Submit(TypeOut, 5, dataOut: Pattern(2 * SectorSize, 9));
        driver.WaitUsed();
        driver.Submit(TypeIn, 7, dataInLength: 3 * SectorSize);
        driver.WaitUsed();
        driver.Submit(TypeIn, 63, dataInLength: 2 * SectorSize); // runs past the end
        driver.WaitUsed();
        driver.Submit(TypeDiscard, 0, dataOut: DiscardSegment(1, 4)); // not negotiated
        driver.WaitUsed();
        driver.Submit(TypeFlush, 0);
        driver.WaitUsed();

        var got = spans.Select(s => (
            s.DisplayName,
            (string?)s.GetTagItem("blk.operation"),
            (long?)s.GetTagItem("blk.sector"),
            (long?)s.GetTagItem(DeviceTrace.BytesTag),
            (string?)s.GetTagItem("blk.status"))).ToList();
        Assert.Equal(
            [
                ("virtio-blk write", "write", 5, 2 * SectorSize, "ok"),
                ("virtio-blk read", "read", 7, 3 * SectorSize, "ok"),
                ("virtio-blk read", "read", 63, 2 * SectorSize, "ioerr"),
                ("virtio-blk discard", "discard", 0, 0, "unsupp"), // refused before its ranges are read
                ("virtio-blk flush", "flush", 0, 0, "ok"),
            ],
            got);
        Assert.All(spans, s => Assert.Equal("virtio-blk0", s.GetTagItem(DeviceTrace.DeviceTag)));
    }
}

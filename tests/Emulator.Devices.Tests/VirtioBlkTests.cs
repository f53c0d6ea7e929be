using System.Buffers.Binary;
using Emulator.Devices.Bus;
using Emulator.Devices.Virtio;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Devices.Tests;

/// <summary>virtio-blk requests (virtio 1.1 section 5.2) through the virtio-mmio registers and a test driver.</summary>
public sealed class VirtioBlkTests : IDisposable
{
    private const int DiskSectors = 64;
    private const ulong AllFeatures = Version1 | IndirectDesc | EventIdx
        | (1UL << FeatureSizeMax) | (1UL << FeatureSegMax) | (1UL << FeatureBlkSize) | (1UL << FeatureFlush)
        | (1UL << FeatureDiscard) | (1UL << FeatureWriteZeroes);

    private readonly GuestMemory ram = new(1 << 20);
    private readonly RecordingInterruptLine irq = new();
    private MemoryBlockBackend backend = null!;
    private Blk device = null!;
    private VirtioMmioTransport transport = null!;
    private VirtioTestDriver driver = null!;

    public void Dispose() => ram.Dispose();

    private void Start(bool readOnly = false, bool deferred = false, ulong features = AllFeatures)
    {
        backend = new MemoryBlockBackend(Pattern(DiskSectors * SectorSize, 3), readOnly, deferred);
        device = new Blk(backend, new() { Serial = "disk-serial-1" });
        transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), irq);
        driver = new VirtioTestDriver(transport, ram);
        driver.Initialize(features & (readOnly ? ~0UL : ~(1UL << FeatureRo)));
    }

    private ulong Config(int offset, int size) => transport.Read(VirtioMmioRegisters.Config + (ulong)offset, size);

    [Fact]
    public void ConfigurationSpace()
    {
        Start();
        Assert.Equal((ulong)DiskSectors, Config(ConfigCapacity, 8));
        Assert.Equal((ulong)DiskSectors, Config(ConfigCapacity, 4) | Config(ConfigCapacity + 4, 4) << 32);
        Assert.Equal(512UL, Config(ConfigBlkSize, 4));
        Assert.Equal(254UL, Config(ConfigSegMax, 4)); // queue size 256 minus header and status
        Assert.Equal(256UL * 1024, Config(ConfigSizeMax, 4));
        Assert.NotEqual(0UL, Config(ConfigMaxDiscardSectors, 4));
        Assert.NotEqual(0UL, Config(ConfigMaxDiscardSeg, 4));
        Assert.Equal(1UL, Config(ConfigDiscardSectorAlignment, 4));
        Assert.NotEqual(0UL, Config(ConfigMaxWriteZeroesSectors, 4));
        Assert.NotEqual(0UL, Config(ConfigMaxWriteZeroesSeg, 4));
        Assert.Equal(0UL, Config(ConfigWriteZeroesMayUnmap, 1));
        ulong f = driver.DeviceFeatures();
        foreach (int bit in new[] { FeatureSegMax, FeatureBlkSize, FeatureFlush, FeatureDiscard, FeatureWriteZeroes })
        {
            Assert.NotEqual(0UL, f & (1UL << bit));
        }

        Assert.Equal(0UL, Config(ConfigSize, 1)); // past the structure
        Assert.Equal(1, transport.Unexpected.Count);
    }

    [Fact]
    public void WriteThenReadRoundTrips()
    {
        Start();
        var data = Pattern(2 * SectorSize, 99);
        var w = driver.Submit(TypeOut, 5, dataOut: data);
        Assert.Equal((w.Head, 1u), driver.WaitUsed()); // only the status byte is written
        Assert.Equal(StatusOk, driver.StatusOf(w));
        Assert.Equal(data, backend.Disk.AsSpan(5 * SectorSize, data.Length).ToArray());

        var r = driver.Submit(TypeIn, 5, dataInLength: 2 * SectorSize);
        Assert.Equal((r.Head, (uint)(2 * SectorSize + 1)), driver.WaitUsed());
        Assert.Equal(StatusOk, driver.StatusOf(r));
        Assert.Equal(data, driver.DataOf(r));
        Assert.True(irq.Level);
    }

    [Fact]
    public void AnyLayoutHeaderAndDataSplitAcrossDescriptors()
    {
        Start();
        // 2.6.4.3: no framing is assumed. Header in two pieces, data-in in three, status alone.
        var header = Header(TypeIn, 2);
        ulong h1 = driver.AllocBytes(header.AsSpan(0, 5));
        ulong h2 = driver.AllocBytes(header.AsSpan(5));
        ulong d1 = driver.Alloc(100), d2 = driver.Alloc(412), d3 = driver.Alloc(512), status = driver.Alloc(1);
        ushort head = driver.AddAndNotify((h1, 5, false), (h2, 11, false), (d1, 100, true), (d2, 412, true), (d3, 512, true), (status, 1, true));
        Assert.Equal((head, 1025u), driver.WaitUsed());
        Assert.Equal(StatusOk, ram.Span(status, 1)[0]);
        var expected = backend.Disk.AsSpan(2 * SectorSize, 1024).ToArray();
        byte[] got = [.. ram.Span(d1, 100).ToArray(), .. ram.Span(d2, 412).ToArray(), .. ram.Span(d3, 512).ToArray()];
        Assert.Equal(expected, got);
    }

    [Fact]
    public void StatusSharingTheLastDataDescriptor()
    {
        Start();
        ulong header = driver.AllocBytes(Header(TypeIn, 1));
        ulong buffer = driver.Alloc(SectorSize + 1);
        ushort head = driver.AddAndNotify((header, 16, false), (buffer, SectorSize + 1, true));
        Assert.Equal((head, (uint)SectorSize + 1), driver.WaitUsed());
        Assert.Equal(StatusOk, ram.Span(buffer + SectorSize, 1)[0]);
        Assert.Equal(backend.Disk.AsSpan(SectorSize, SectorSize).ToArray(), ram.Span(buffer, SectorSize).ToArray());
    }

    [Fact]
    public void IndirectDescriptors()
    {
        Start();
        var data = Pattern(SectorSize, 42);
        var w = driver.Submit(TypeOut, 7, dataOut: data, indirect: true);
        Assert.Equal(w.Head, driver.WaitUsed().Id);
        Assert.Equal(StatusOk, driver.StatusOf(w));
        var r = driver.Submit(TypeIn, 7, dataInLength: SectorSize, indirect: true);
        Assert.Equal(r.Head, driver.WaitUsed().Id);
        Assert.Equal(data, driver.DataOf(r));
    }

    [Fact]
    public void IndirectDescriptorWithoutTheFeatureIsDropped()
    {
        Start(features: AllFeatures & ~IndirectDesc);
        var r = driver.Submit(TypeIn, 0, dataInLength: SectorSize, indirect: true);
        Assert.Equal((r.Head, 0u), driver.WaitUsed());
        Assert.Equal(0xEE, driver.StatusOf(r));
        Assert.Equal(1, device.MalformedChains);
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public void DataBufferOutsideRamGetsIoErr()
    {
        Start();
        ulong header = driver.AllocBytes(Header(TypeIn, 0));
        ulong status = driver.Alloc(1);
        ushort head = driver.AddAndNotify((header, 16, false), (ram.Size - 256, SectorSize, true), (status, 1, true));
        Assert.Equal((head, 1u), driver.WaitUsed());
        Assert.Equal(StatusIoErr, ram.Span(status, 1)[0]);
        Assert.Empty(backend.Requests);

        // An address that wraps past 2^64 is outside RAM too.
        ushort head2 = driver.AddAndNotify((header, 16, false), (ulong.MaxValue - 100, SectorSize, true), (status, 1, true));
        Assert.Equal((head2, 1u), driver.WaitUsed());
        Assert.Equal(StatusIoErr, ram.Span(status, 1)[0]);
    }

    [Fact]
    public void StatusOutsideRamDropsTheChain()
    {
        Start();
        ulong header = driver.AllocBytes(Header(TypeFlush, 0));
        ushort head = driver.AddAndNotify((header, 16, false), (ram.Size, 1, true));
        Assert.Equal((head, 0u), driver.WaitUsed());
        Assert.Equal(1, device.MalformedChains);
    }

    [Fact]
    public void MissingStatusDescriptorDropsTheChain()
    {
        Start();
        ulong header = driver.AllocBytes(Header(TypeOut, 0));
        ulong data = driver.Alloc(SectorSize);
        ushort head = driver.AddAndNotify((header, 16, false), (data, SectorSize, false));
        Assert.Equal((head, 0u), driver.WaitUsed());
        Assert.Empty(backend.Requests);
        Assert.Equal(1, device.MalformedChains);
    }

    [Fact]
    public void ShortHeaderGetsIoErr()
    {
        Start();
        ulong header = driver.AllocBytes(Header(TypeIn, 0).AsSpan(0, 8));
        ulong status = driver.Alloc(1);
        ushort head = driver.AddAndNotify((header, 8, false), (status, 1, true));
        Assert.Equal((head, 1u), driver.WaitUsed());
        Assert.Equal(StatusIoErr, ram.Span(status, 1)[0]);
    }

    [Fact]
    public void DescriptorLoopIsDroppedWithoutHanging()
    {
        Start();
        ulong header = driver.AllocBytes(Header(TypeIn, 0));
        ulong status = driver.Alloc(1);
        driver.WriteDescriptor(driver.DescTable, 0, header, 16, DescFlagNext, 1);
        driver.WriteDescriptor(driver.DescTable, 1, status, 1, DescFlagNext | DescFlagWrite, 2);
        driver.WriteDescriptor(driver.DescTable, 2, status, 1, DescFlagNext | DescFlagWrite, 1); // back to 1
        driver.MakeAvailable(0);
        driver.Notify();
        Assert.Equal((0u, 0u), driver.WaitUsed());
        Assert.Equal(1, device.MalformedChains);

        // The queue keeps working afterwards.
        driver.SetReg(InterruptAck, 1);
        var r = driver.Submit(TypeGetId, 0, dataInLength: 20);
        Assert.Equal(StatusOk, driver.StatusOf(r));
    }

    [Fact]
    public void IndirectTableLoopAndNextIndexOutOfRangeAreDropped()
    {
        Start();
        ulong status = driver.Alloc(1);
        ulong table = driver.Alloc(32);
        driver.WriteDescriptor(table, 0, status, 1, DescFlagNext | DescFlagWrite, 1);
        driver.WriteDescriptor(table, 1, status, 1, DescFlagNext | DescFlagWrite, 0);
        driver.WriteDescriptor(driver.DescTable, 3, table, 32, DescFlagIndirect, 0);
        driver.MakeAvailable(3);
        driver.WriteDescriptor(driver.DescTable, 4, status, 1, DescFlagNext | DescFlagWrite, 200); // next >= queue size
        driver.MakeAvailable(4);
        driver.WriteDescriptor(driver.DescTable, 5, ram.Size - 16, 32, DescFlagIndirect, 0); // table past the end of RAM
        driver.MakeAvailable(5);
        driver.Notify();
        Assert.Equal((3u, 0u), driver.WaitUsed());
        Assert.Equal((4u, 0u), driver.WaitUsed());
        Assert.Equal((5u, 0u), driver.WaitUsed());
        Assert.Equal(3, device.MalformedChains);
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public void DescriptorTableOutsideRamIsDropped()
    {
        Start();
        driver.SetReg(Status, 0);
        Assert.True(driver.Negotiate(AllFeatures));
        driver.SetReg(QueueNum, 16);
        driver.SetReg(QueueDescLow, 0xFFFF_F000); // far beyond 1 MiB of RAM
        driver.SetReg(QueueDriverLow, (uint)driver.AvailRing);
        driver.SetReg(QueueDeviceLow, (uint)driver.UsedRing);
        driver.SetReg(QueueReady, 1);
        driver.SetReg(Status, 15);
        ram.Span(driver.AvailRing, 8).Clear();
        ram.Span(driver.UsedRing, 8).Clear();
        driver.MakeAvailable(0);
        driver.Notify();
        Assert.Equal((0u, 0u), driver.WaitUsed());
        Assert.Equal(1, device.MalformedChains);
    }

    [Fact]
    public void BeyondTheEndGetsIoErr()
    {
        Start();
        var r = driver.Submit(TypeIn, DiskSectors - 1, dataInLength: 2 * SectorSize);
        Assert.Equal(StatusIoErr, driver.StatusOf(r));
        var w = driver.Submit(TypeOut, DiskSectors, dataOut: Pattern(SectorSize, 1));
        Assert.Equal(StatusIoErr, driver.StatusOf(w));
        var huge = driver.Submit(TypeIn, ulong.MaxValue, dataInLength: SectorSize);
        Assert.Equal(StatusIoErr, driver.StatusOf(huge));
        var last = driver.Submit(TypeIn, DiskSectors - 1, dataInLength: SectorSize);
        Assert.Equal(StatusOk, driver.StatusOf(last));
        Assert.Single(backend.Requests);
    }

    [Fact]
    public void PartialSectorTransferGetsIoErr()
    {
        Start();
        var r = driver.Submit(TypeIn, 0, dataInLength: 100);
        Assert.Equal(StatusIoErr, driver.StatusOf(r));
    }

    [Fact]
    public void FlushReachesTheBackend()
    {
        Start();
        var f = driver.Submit(TypeFlush, 0);
        Assert.Equal((f.Head, 1u), driver.WaitUsed());
        Assert.Equal(StatusOk, driver.StatusOf(f));
        Assert.Equal(BlockOperation.Flush, Assert.Single(backend.Requests).Operation);
    }

    [Fact]
    public void GetIdReturnsTheSerialZeroPadded()
    {
        Start();
        var r = driver.Submit(TypeGetId, 0, dataInLength: 20);
        Assert.Equal((r.Head, 21u), driver.WaitUsed());
        Assert.Equal(StatusOk, driver.StatusOf(r));
        var expected = new byte[20];
        "disk-serial-1"u8.CopyTo(expected);
        Assert.Equal(expected, driver.DataOf(r));
    }

    [Fact]
    public void UnknownRequestTypeIsUnsupported()
    {
        Start();
        var r = driver.Submit(0x55, 0);
        Assert.Equal(StatusUnsupp, driver.StatusOf(r));
    }

    [Fact]
    public void DiscardAndWriteZeroesReadBackZeroes()
    {
        Start();
        var d = driver.Submit(TypeDiscard, 0, dataOut: [.. DiscardSegment(1, 2), .. DiscardSegment(10, 1)]);
        Assert.Equal(StatusOk, driver.StatusOf(d));
        var z = driver.Submit(TypeWriteZeroes, 0, dataOut: DiscardSegment(20, 3, DiscardFlagUnmap));
        Assert.Equal(StatusOk, driver.StatusOf(z));
        foreach (var (sector, count) in new[] { (1, 2), (10, 1), (20, 3) })
        {
            var r = driver.Submit(TypeIn, (ulong)sector, dataInLength: count * SectorSize);
            Assert.Equal(new byte[count * SectorSize], driver.DataOf(r));
        }

        // Neighbouring sectors are untouched.
        var n = driver.Submit(TypeIn, 3, dataInLength: SectorSize);
        Assert.Equal(Pattern(DiskSectors * SectorSize, 3).AsSpan(3 * SectorSize, SectorSize).ToArray(), driver.DataOf(n));
    }

    [Fact]
    public void DiscardWithUnmapOrUnknownFlagsIsUnsupported()
    {
        Start();
        Assert.Equal(StatusUnsupp, driver.StatusOf(driver.Submit(TypeDiscard, 0, dataOut: DiscardSegment(1, 1, DiscardFlagUnmap))));
        Assert.Equal(StatusUnsupp, driver.StatusOf(driver.Submit(TypeWriteZeroes, 0, dataOut: DiscardSegment(1, 1, 2))));
        Assert.Equal(StatusIoErr, driver.StatusOf(driver.Submit(TypeDiscard, 0, dataOut: DiscardSegment(DiskSectors - 1, 2))));
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public void DiscardWithoutTheFeatureIsUnsupported()
    {
        Start(features: AllFeatures & ~(1UL << FeatureDiscard));
        Assert.Equal(StatusUnsupp, driver.StatusOf(driver.Submit(TypeDiscard, 0, dataOut: DiscardSegment(1, 1))));
    }

    [Fact]
    public void ReadOnlyImageOffersRoAndFailsWrites()
    {
        Start(readOnly: true, features: AllFeatures | (1UL << FeatureRo));
        Assert.NotEqual(0UL, driver.DeviceFeatures() & (1UL << FeatureRo));
        Assert.Equal(StatusIoErr, driver.StatusOf(driver.Submit(TypeOut, 0, dataOut: Pattern(SectorSize, 5))));
        Assert.Equal(StatusIoErr, driver.StatusOf(driver.Submit(TypeWriteZeroes, 0, dataOut: DiscardSegment(0, 1))));
        Assert.Equal(StatusOk, driver.StatusOf(driver.Submit(TypeIn, 0, dataInLength: SectorSize)));
        Assert.Equal(Pattern(SectorSize, 3), backend.Disk.AsSpan(0, SectorSize).ToArray());
    }

    [Fact]
    public void CompletionArrivesLaterAndOutOfOrder()
    {
        Start(deferred: true);
        var a = driver.Submit(TypeIn, 0, dataInLength: SectorSize);
        var b = driver.Submit(TypeIn, 1, dataInLength: SectorSize);
        Assert.Equal(0, driver.UsedIdx); // nothing completes before the backend answers
        Assert.Equal(2, device.InFlight);
        Assert.False(irq.Level);
        backend.CompleteAll();
        Assert.Equal(2, driver.UsedIdx);
        Assert.Equal(0, device.InFlight);
        Assert.Equal(StatusOk, driver.StatusOf(a));
        Assert.Equal(StatusOk, driver.StatusOf(b));
        Assert.True(irq.Level);
    }

    [Fact]
    public void CompletionAfterResetIsIgnored()
    {
        Start(deferred: true);
        var r = driver.Submit(TypeIn, 0, dataInLength: SectorSize);
        driver.SetReg(Status, 0);
        driver.Initialize(AllFeatures);
        backend.CompleteAll();
        Assert.Equal(0, driver.UsedIdx);
        Assert.Equal(0xEE, driver.StatusOf(r));
        Assert.Equal(new byte[SectorSize], driver.DataOf(r));
        Assert.False(irq.Level);
    }

    [Fact]
    public void BackendErrorBecomesIoErr()
    {
        var failing = new FailingBackend();
        device = new Blk(failing);
        transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), irq);
        driver = new VirtioTestDriver(transport, ram);
        driver.Initialize(AllFeatures);
        Assert.Equal(StatusIoErr, driver.StatusOf(driver.Submit(TypeIn, 0, dataInLength: SectorSize)));
        Assert.Equal(StatusIoErr, driver.StatusOf(driver.Submit(TypeFlush, 0)));
    }

    [Fact]
    public void SaveStateRecordsCapacity()
    {
        Start();
        var s = System.Text.Json.Nodes.JsonNode.Parse(VirtioBlk.VirtioBlk.SavedState.Save(device))!;
        Assert.Equal((ulong)DiskSectors, (ulong)s["CapacitySectors"]!);
    }

    private sealed class FailingBackend : IBlockBackend
    {
        public ulong SizeBytes => 4096;

        public bool IsReadOnly => false;

        public void Submit(BlockRequest request, Action<BlockCompletion> completed) =>
            completed(new BlockCompletion(BlockStatus.IoError, Message: "disk on fire"));
    }
}

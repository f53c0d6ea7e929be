using Emulator.Devices.Bus;
using Emulator.Devices.Virtio;
using Emulator.Devices.VirtioBlk;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Devices.Tests;

/// <summary>
/// What a guest can make the host allocate through virtio-blk. The largest request is
/// seg_max * size_max (254 * 256 KiB, 63.5 MiB), and its descriptors may all name the same small
/// guest buffer, so its size says nothing about the guest memory behind it. Host buffers are
/// measured deterministically: the bytes this thread allocates in each step (the device and the
/// in-memory backend run on it), and the bytes held at the backend at once.
/// </summary>
public sealed class VirtioBlkHostMemoryTests : IDisposable
{
    private const int Segment = 256 * 1024;
    private const int Segments = 254;
    private const int Request = Segment * Segments;

    /// <summary>Allocation besides data buffers in one step (chains, closures, lists): far below a chunk.</summary>
    private const long Bookkeeping = 512 * 1024;

    private readonly GuestMemory ram = new(16 << 20);

    public void Dispose() => ram.Dispose();

    /// <summary>Makes a chain available: header, then <paramref name="data"/> (device-writable for reads), then the status byte; indirect, so 256 descriptors fit.</summary>
    private static BlkSubmission Offer(VirtioTestDriver d, uint type, ulong sector, IEnumerable<(ulong Address, uint Length)> data)
    {
        ulong header = d.AllocBytes(Header(type, sector));
        ulong status = d.Alloc(1);
        d.Ram.Span(status, 1)[0] = 0xEE;
        bool writable = type == TypeIn;
        var buffers = new List<(ulong, uint, bool)> { (header, RequestHeaderSize, false) };
        buffers.AddRange(data.Select(b => (b.Address, b.Length, writable)));
        buffers.Add((status, 1, true));
        ushort head = d.WriteIndirectChain([.. buffers]);
        d.MakeAvailable(head);
        return new BlkSubmission(head, header, 0, 0, status);
    }

    private static long AllocatedBy(Action step)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        step();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>Notifies, then completes what the backend holds until <paramref name="count"/> chains are used; returns the largest allocation of one step.</summary>
    private static long Run(VirtioTestDriver driver, MemoryBlockBackend backend, int count)
    {
        long largest = AllocatedBy(driver.Notify);
        int used = 0;
        for (int round = 0; used < count; round++)
        {
            Assert.True(round < 10_000, $"only {used} of {count} requests completed");
            largest = Math.Max(largest, AllocatedBy(backend.CompleteAll));
            while (driver.TryGetUsed(out _, out _))
            {
                used++;
            }
        }

        return largest;
    }

    [Fact]
    public void HugeAndAliasedRequestsCompleteWithHostBuffersUnderTheBound()
    {
        var options = new VirtioBlkOptions();
        var disk = new byte[64 << 20];
        var backend = new MemoryBlockBackend(disk, deferred: true);
        var device = new Blk(backend, options);
        var transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), NullInterruptLine.Instance);
        var driver = new VirtioTestDriver(transport, ram, queueSize: 256);
        driver.Initialize(Version1 | IndirectDesc);
        long bound = options.MaxBytesInFlight + Bookkeeping;

        // Two 63.5 MiB writes whose 254 data descriptors all name one 256 KiB guest buffer.
        ulong source = driver.AllocBytes(Pattern(Segment, 9));
        var aliased = Enumerable.Repeat((source, (uint)Segment), Segments).ToList();
        var w1 = Offer(driver, TypeOut, 0, aliased);
        var w2 = Offer(driver, TypeOut, 0, aliased);
        long writes = Run(driver, backend, 2);
        Assert.Equal(StatusOk, driver.StatusOf(w1));
        Assert.Equal(StatusOk, driver.StatusOf(w2));
        for (int i = 0; i < Segments; i++)
        {
            Assert.True(disk.AsSpan(i * Segment, Segment).SequenceEqual(Pattern(Segment, 9)), $"segment {i} of the write is wrong");
        }

        // A 63.5 MiB read into one aliased 256 KiB buffer (it ends up holding the last segment), and a
        // 6 MiB read into distinct buffers whose edges fall inside chunks.
        disk.AsSpan(Request - Segment, Segment).Clear();
        Pattern(Segment, 42).CopyTo(disk.AsSpan(Request - Segment));
        ulong sink = driver.Alloc(Segment);
        uint[] lengths = [700_000, 1_500_000, 12_345, 2_000_000, 2_079_111];
        var spread = lengths.Select(n => (driver.Alloc((int)n), n)).ToList();
        var r1 = Offer(driver, TypeIn, 0, Enumerable.Repeat((sink, (uint)Segment), Segments));
        var r2 = Offer(driver, TypeIn, 1, spread);
        long reads = Run(driver, backend, 2);
        Assert.Equal(StatusOk, driver.StatusOf(r1));
        Assert.Equal(StatusOk, driver.StatusOf(r2));
        Assert.Equal(Pattern(Segment, 42), ram.Span(sink, Segment).ToArray());
        long at = SectorSize;
        foreach (var (address, length) in spread)
        {
            Assert.True(ram.Span(address, (int)length).SequenceEqual(disk.AsSpan((int)at, (int)length)), $"the read buffer at disk offset {at} is wrong");
            at += length;
        }

        Assert.True(writes <= bound, $"a step of the writes allocated {writes} bytes; the bound is {bound}");
        Assert.True(reads <= bound, $"a step of the reads allocated {reads} bytes; the bound is {bound}");
        Assert.True(backend.LargestRequest <= options.ChunkBytes, $"the backend got a {backend.LargestRequest}-byte request");
        Assert.True(backend.MaxPendingBytes <= options.MaxBytesInFlight, $"the backend held {backend.MaxPendingBytes} bytes at once");
        Assert.True(device.PeakBytesInFlight <= options.MaxBytesInFlight);
        Assert.True(device.LargestChunk <= options.ChunkBytes);
        Assert.Equal(0, device.BytesInFlight);
        Assert.Equal(0, device.InFlight);
    }

    [Fact]
    public void AHeadOfferedAgainWhileInFlightBreaksTheQueueInsteadOfGrowingTheDevice()
    {
        var backend = new MemoryBlockBackend(new byte[64 * SectorSize], deferred: true);
        var device = new Blk(backend);
        var transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), NullInterruptLine.Instance);
        var driver = new VirtioTestDriver(transport, ram);
        driver.Initialize(Version1 | IndirectDesc);
        for (int i = 0; i < driver.QueueSize; i++)
        {
            driver.Submit(TypeIn, (ulong)i, dataInLength: SectorSize, indirect: true, notify: false);
        }

        driver.Notify();
        Assert.Equal(driver.QueueSize, device.InFlight);
        Assert.Equal(driver.QueueSize, backend.Requests.Count);

        // Every descriptor is the device's until used: offering head 0 again is a driver bug (2.6.5).
        driver.MakeAvailable(0);
        driver.Notify();
        Assert.Equal(driver.QueueSize, backend.Requests.Count);
        Assert.NotEqual(0u, driver.Reg(Status) & StatusDeviceNeedsReset);
    }
}

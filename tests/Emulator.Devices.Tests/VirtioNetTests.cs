using System.Buffers.Binary;
using Emulator.Devices.Bus;
using Emulator.Devices.State;
using Emulator.Devices.Virtio;
using Emulator.Devices.VirtioNet;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;
using static Emulator.Devices.VirtioNet.VirtioNetRegisters;
using Net = Emulator.Devices.VirtioNet.VirtioNet;

namespace Emulator.Devices.Tests;

/// <summary>virtio-net (virtio 1.1 section 5.1) at the queue level: through the virtio-mmio registers, a two-queue test driver and a recording backend.</summary>
public sealed class VirtioNetTests : IDisposable
{
    private const ulong Version1 = 1UL << FeatureVersion1;
    private const ulong Basic = Version1 | (1UL << FeatureRingIndirectDesc) | (1UL << FeatureRingEventIdx) | (1UL << FeatureMac) | (1UL << FeatureStatus);
    private const ulong WithOffloads = Basic | (1UL << FeatureCsum) | (1UL << FeatureHostTso4) | (1UL << FeatureHostTso6);
    private static readonly MacAddress TestMac = MacAddress.Parse("52:54:00:ab:cd:ef");

    private readonly GuestMemory ram = new(1 << 20);
    private readonly RecordingInterruptLine irq = new();
    private RecordingNetBackend backend = null!;
    private Net device = null!;
    private VirtioMmioTransport transport = null!;
    private NetTestDriver driver = null!;

    public void Dispose() => ram.Dispose();

    private void Start(ulong features = Basic, bool offloads = true, bool deferred = false, int maxHeld = 256, int maxInFlight = 1 << 20, bool driverOk = true)
    {
        backend = new RecordingNetBackend(offloads, deferred);
        device = new Net(backend, new VirtioNetOptions { Mac = TestMac, MaxHeldFrames = maxHeld, MaxTransmitBytesInFlight = maxInFlight });
        transport = new VirtioMmioTransport(device, new GuestRamAccess(ram), irq, "virtio-net0");
        driver = new NetTestDriver(transport, ram);
        driver.Initialize(features, driverOk);
    }

    private static byte[] Frame(int length, int seed)
    {
        var f = new byte[length];
        for (int i = 0; i < length; i++)
        {
            f[i] = (byte)(i * 13 + seed);
        }

        return f;
    }

    /// <summary>A frame as the backend hands it over: a header (here deliberately not zero, as a TAP may write one) and the frame.</summary>
    private static byte[] FromWire(byte[] frame)
    {
        var b = new byte[HeaderSize + frame.Length];
        b.AsSpan(0, HeaderSize).Fill(0x5A);
        frame.CopyTo(b, HeaderSize);
        return b;
    }

    [Fact]
    public void ConfigurationShowsTheMacAndLinkUp()
    {
        Start();
        Assert.Equal(1u, driver.Reg(DeviceId));
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal((ulong)TestMac[i], transport.Read(Config + (ulong)(ConfigMac + i), 1));
        }

        Assert.Equal((ulong)StatusLinkUp, transport.Read(Config + ConfigStatus, 2));
        Assert.Equal(0UL, transport.Read(Config + ConfigSize, 1)); // past the end: refused, counted, no throw
        Assert.Equal(1, transport.Unexpected.Count);
        transport.Write(Config + ConfigMac, 1, 0x99); // not writable without the control queue
        Assert.Equal(0xabUL, transport.Read(Config + ConfigMac + 3, 1));
    }

    [Fact]
    public void OffloadsAreOfferedOnlyWhenTheBackendHonoursThem()
    {
        Start(offloads: true);
        ulong with = driver.DeviceFeatures();
        Assert.Equal(WithOffloads, with & WithOffloads);
        Assert.Equal(0UL, with & ((1UL << FeatureGuestCsum) | (1UL << FeatureGuestTso4) | (1UL << FeatureMrgRxbuf)));

        Start(offloads: false);
        ulong without = driver.DeviceFeatures();
        Assert.Equal(Basic, without & Basic);
        Assert.Equal(0UL, without & ((1UL << FeatureCsum) | (1UL << FeatureHostTso4) | (1UL << FeatureHostTso6)));
    }

    [Fact]
    public void TransmitHandsTheHeaderAndFrameToTheBackendAndReturnsTheChain()
    {
        Start();
        var frame = Frame(1514, 1);
        ushort head = driver.Send(frame);
        var sent = Assert.Single(backend.Sent);
        Assert.Equal(HeaderSize + frame.Length, sent.Length);
        Assert.Equal(new byte[HeaderSize], sent[..HeaderSize]);
        Assert.Equal(frame, sent[HeaderSize..]);
        Assert.Equal([(head, 0u)], driver.Used(driver.Tx));
        Assert.True(irq.Level);
        Assert.Equal(1, device.TransmittedFrames);
        Assert.Equal(0, device.TransmitBytesInFlight);
    }

    [Fact]
    public void ReceiveWritesAZeroHeaderWithOneBufferAndTheFrame()
    {
        Start();
        ulong buffer = driver.PostReceive();
        var frame = Frame(60, 2);
        device.Receive(FromWire(frame));
        var used = Assert.Single(driver.Used(driver.Rx));
        Assert.Equal((uint)(HeaderSize + frame.Length), used.Len);
        var header = ram.Span(buffer, HeaderSize).ToArray();
        Assert.Equal(new byte[10], header[..10]); // flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(HeaderNumBuffers)));
        Assert.Equal(frame, ram.Span(buffer + HeaderSize, frame.Length).ToArray());
        Assert.Equal(1, device.ReceivedFrames);
    }

    [Fact]
    public void ReceiveScattersOverSeveralWritableBuffers()
    {
        Start();
        ulong a = driver.Alloc(HeaderSize), b = driver.Alloc(20), c = driver.Alloc(2000);
        driver.Add(driver.Rx, true, (a, HeaderSize, true), (b, 20, true), (c, 2000, true));
        var frame = Frame(100, 3);
        device.Receive(FromWire(frame));
        Assert.Equal((uint)(HeaderSize + 100), Assert.Single(driver.Used(driver.Rx)).Len);
        Assert.Equal(frame[..20], ram.Span(b, 20).ToArray());
        Assert.Equal(frame[20..], ram.Span(c, 80).ToArray());
    }

    [Fact]
    public void FramesWithoutReceiveBuffersAreHeldToTheBoundThenDroppedAndHeldOnesArriveInOrder()
    {
        Start(maxHeld: 4);
        for (int i = 0; i < 7; i++)
        {
            device.Receive(FromWire(Frame(64, i)));
        }

        Assert.Equal(4, device.HeldFrames);
        Assert.Equal(3, device.DroppedNoBuffer);
        Assert.Empty(driver.Used(driver.Rx));

        var buffers = Enumerable.Range(0, 6).Select(_ => driver.PostReceive(notify: false)).ToList();
        driver.Notify(driver.Rx);
        var used = driver.Used(driver.Rx);
        Assert.Equal(4, used.Count);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(Frame(64, i), ram.Span(buffers[i] + HeaderSize, 64).ToArray());
        }

        Assert.Equal(0, device.HeldFrames);

        // The next frame goes straight into the fifth buffer.
        device.Receive(FromWire(Frame(64, 9)));
        Assert.Equal(Frame(64, 9), ram.Span(buffers[4] + HeaderSize, 64).ToArray());
    }

    [Fact]
    public void WithEventIndexTheDeviceAsksToBeNotifiedWhenItRunsOutOfReceiveBuffers()
    {
        Start();
        device.Receive(FromWire(Frame(64, 1)));
        // avail_event (2.6.10) names the next entry the device will read: the first post notifies.
        ushort availEvent = BinaryPrimitives.ReadUInt16LittleEndian(ram.Span(driver.Rx.UsedRing + 4 + 8UL * driver.Rx.Size, 2));
        Assert.Equal(0, availEvent);
        Assert.Equal(1, device.HeldFrames);
    }

    [Fact]
    public void FramesBeforeDriverOkAreDroppedAndCounted()
    {
        Start(driverOk: false);
        device.Receive(FromWire(Frame(64, 1)));
        Assert.Equal(1, device.DroppedNotReady);
        Assert.Equal(0, device.HeldFrames);
    }

    [Fact]
    public void ARuntFrameOrOneTooLargeForTheBufferIsDropped()
    {
        Start();
        device.Receive(new byte[HeaderSize + 10]);
        Assert.Equal(1, device.DroppedBadFrame);
        driver.PostReceive(length: 100);
        device.Receive(FromWire(Frame(200, 1)));
        Assert.Equal(2, device.DroppedBadFrame);
        Assert.Equal(0u, Assert.Single(driver.Used(driver.Rx)).Len); // the buffer comes back empty
    }

    [Fact]
    public void MalformedTransmitChainsNeverThrowAndComeBackEmpty()
    {
        Start();
        var tx = driver.Tx;

        // A loop: descriptor points at itself.
        ushort loop = tx.NextDesc;
        driver.WriteDescriptor(tx, loop, driver.AllocBytes(new byte[64]), 64, DescFlagNext, loop);
        tx.NextDesc++;
        driver.MakeAvailable(tx, loop);

        // Outside RAM.
        driver.Add(tx, false, (0xFFFF_0000_0000UL, 64, false));

        // A device-writable buffer in a transmit chain.
        driver.Add(tx, false, (driver.Alloc(12), 12, false), (driver.Alloc(64), 64, true));

        // Shorter than a header and an Ethernet header.
        driver.Add(tx, false, (driver.Alloc(20), 20, false));

        // NEEDS_CSUM, with VIRTIO_NET_F_CSUM not negotiated.
        var h = new byte[HeaderSize];
        h[HeaderFlags] = HeaderFlagNeedsCsum;
        driver.Send(Frame(100, 1), h, notify: false);

        // An unknown GSO type.
        var g = new byte[HeaderSize];
        g[HeaderGsoType] = 3;
        driver.Send(Frame(100, 1), g, notify: false);

        driver.Notify(tx);
        var used = driver.Used(tx);
        Assert.Equal(6, used.Count);
        Assert.All(used, u => Assert.Equal(0u, u.Len));
        Assert.Equal(6, device.MalformedChains);
        Assert.Empty(backend.Sent);

        // The queue still works.
        driver.Send(Frame(64, 2));
        Assert.Single(backend.Sent);
    }

    [Fact]
    public void AReceiveChainWithADeviceReadableBufferIsReturnedEmptyAndTheNextOneIsUsed()
    {
        Start();
        driver.Add(driver.Rx, false, (driver.Alloc(2048), 2048, false));
        ulong good = driver.PostReceive(notify: false);
        driver.Notify(driver.Rx);
        var frame = Frame(80, 4);
        device.Receive(FromWire(frame));
        var used = driver.Used(driver.Rx);
        Assert.Equal([0u, (uint)(HeaderSize + 80)], used.Select(u => u.Len));
        Assert.Equal(frame, ram.Span(good + HeaderSize, 80).ToArray());
        Assert.Equal(1, device.MalformedChains);
    }

    [Fact]
    public void AnIndirectTransmitChainIsGathered()
    {
        Start();
        var frame = Frame(300, 6);
        ulong header = driver.AllocBytes(new byte[HeaderSize]), a = driver.AllocBytes(frame[..100]), b = driver.AllocBytes(frame[100..]);
        ulong table = driver.Alloc(48);
        var tx = driver.Tx;
        WriteIndirect(table, 0, header, HeaderSize, DescFlagNext, 1);
        WriteIndirect(table, 1, a, 100, DescFlagNext, 2);
        WriteIndirect(table, 2, b, 200, 0, 0);
        ushort head = tx.NextDesc++;
        driver.WriteDescriptor(tx, head, table, 48, DescFlagIndirect, 0);
        driver.MakeAvailable(tx, head);
        driver.Notify(tx);
        Assert.Equal(frame, Assert.Single(backend.Sent)[HeaderSize..]);
        Assert.Equal([(head, 0u)], driver.Used(tx));
    }

    private void WriteIndirect(ulong table, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        var d = ram.Span(table + 16UL * (ulong)index, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    [Fact]
    public void ChecksumAndSegmentationRequestsPassThroughWhenNegotiated()
    {
        Start(WithOffloads);
        var h = new byte[HeaderSize];
        h[HeaderFlags] = HeaderFlagNeedsCsum;
        h[HeaderGsoType] = GsoTcpV4;
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(2), 54);   // hdr_len
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), 1448); // gso_size
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), 34);   // csum_start
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(8), 16);   // csum_offset
        var frame = Frame(30000, 5);
        driver.Send(frame, h);
        var sent = Assert.Single(backend.Sent);
        Assert.Equal(h, sent[..HeaderSize]);
        Assert.Equal(frame, sent[HeaderSize..]);
        Assert.Equal(0, device.MalformedChains);
    }

    [Fact]
    public void TransmitStopsAtTheBoundOnBytesAtTheBackendAndResumesAsFramesAreSent()
    {
        Start(deferred: true, maxInFlight: 3000);
        for (int i = 0; i < 5; i++)
        {
            driver.Send(Frame(1000, i), notify: false);
        }

        driver.Notify(driver.Tx);
        Assert.Equal(3, backend.Sent.Count); // 3 * 1012 bytes reach the bound
        Assert.Equal(3, driver.Used(driver.Tx).Count);
        Assert.Equal(3 * 1012, device.TransmitBytesInFlight);

        backend.Deferred = false;
        backend.CompleteAll();
        Assert.Equal(5, backend.Sent.Count);
        Assert.Equal(2, driver.Used(driver.Tx).Count);
        Assert.Equal(0, device.TransmitBytesInFlight);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(Frame(1000, i), backend.Sent[i][HeaderSize..]);
        }
    }

    [Fact]
    public void AResetDropsHeldFrames()
    {
        Start();
        device.Receive(FromWire(Frame(64, 1)));
        Assert.Equal(1, device.HeldFrames);
        driver.SetReg(Status, 0);
        Assert.Equal(0, device.HeldFrames);
        device.Receive(FromWire(Frame(64, 1)));
        Assert.Equal(1, device.DroppedNotReady);
    }

    [Fact]
    public void SavedStateKeepsTheQueuesAndRefusesAnotherMac()
    {
        Start();
        driver.PostReceive();
        driver.Send(Frame(64, 1));
        byte[] saved = VirtioMmioTransport.SavedState.Save(transport);

        // The same device elsewhere continues with the same rings.
        var other = new Net(new RecordingNetBackend(), new VirtioNetOptions { Mac = TestMac });
        var copy = new VirtioMmioTransport(other, new GuestRamAccess(ram), new RecordingInterruptLine(), "virtio-net0");
        VirtioMmioTransport.SavedState.Restore(copy, saved);
        Assert.Equal(saved, VirtioMmioTransport.SavedState.Save(copy));
        Assert.Equal(1, other.TransmittedFrames);
        other.Receive(FromWire(Frame(64, 7)));
        Assert.Equal(1, other.ReceivedFrames); // into the buffer posted before the save
        Assert.Equal(Frame(64, 7), ram.Span(0x80000 + HeaderSize, 64).ToArray());

        // A device with another address refuses the state.
        var stranger = new Net(new RecordingNetBackend(), new VirtioNetOptions { Mac = MacAddress.Parse("52:54:00:00:00:01") });
        var wrong = new VirtioMmioTransport(stranger, new GuestRamAccess(ram), new RecordingInterruptLine(), "virtio-net0");
        var e = Assert.Throws<DeviceStateException>(() => VirtioMmioTransport.SavedState.Restore(wrong, saved));
        Assert.Contains("Mac", e.Message);
    }

    [Fact]
    public void MacAddressesParseDeriveAndRefuseMulticast()
    {
        Assert.Equal("52:54:00:ab:cd:ef", TestMac.ToString());
        Assert.False(MacAddress.TryParse("01:00:5e:00:00:01", out _, out string? multicast));
        Assert.Contains("multicast", multicast);
        Assert.False(MacAddress.TryParse("52:54:00:zz:00:01", out _, out _));
        Assert.False(MacAddress.TryParse("52:54:00:00:01", out _, out _));
        var a = MacAddress.Derive("vm1/net0");
        Assert.Equal(a, MacAddress.Derive("vm1/net0"));
        Assert.NotEqual(a, MacAddress.Derive("vm2/net0"));
        Assert.StartsWith("52:54:00:", a.ToString());
    }
}

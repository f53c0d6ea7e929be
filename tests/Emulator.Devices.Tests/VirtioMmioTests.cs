using System.Text.Json.Nodes;
using Emulator.Devices.Bus;
using Emulator.Devices.State;
using Emulator.Devices.Virtio;
using Emulator.Devices.VirtioBlk;
using Emulator.X86.Memory;
using Xunit;
using static Emulator.Devices.Tests.VirtioBlkTestKit;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;
using Blk = Emulator.Devices.VirtioBlk.VirtioBlk;

namespace Emulator.Devices.Tests;

/// <summary>The virtio-mmio register protocol (virtio 1.1 section 4.2) and split virtqueue rules (2.6), driven through a virtio-blk device.</summary>
public sealed class VirtioMmioTests : IDisposable
{
    private readonly GuestMemory ram = new(1 << 20);
    private readonly RecordingInterruptLine irq = new();
    private readonly MemoryBlockBackend backend = new(new byte[64 * 512]);
    private readonly VirtioMmioTransport transport;
    private readonly VirtioTestDriver driver;

    public VirtioMmioTests()
    {
        transport = new VirtioMmioTransport(new Blk(backend), new GuestRamAccess(ram), irq);
        driver = new VirtioTestDriver(transport, ram);
    }

    public void Dispose() => ram.Dispose();

    [Fact]
    public void IdentificationRegisters()
    {
        Assert.Equal(0x74726976u, driver.Reg(MagicValue)); // "virt"
        Assert.Equal(2u, driver.Reg(VirtioMmioRegisters.Version)); // modern only (4.2.2)
        Assert.Equal(2u, driver.Reg(DeviceId)); // block device (5)
        Assert.Equal(0x554d4551u, driver.Reg(VendorId));
        Assert.Equal(256u, driver.Reg(QueueNumMax));
        ulong f = driver.DeviceFeatures();
        Assert.NotEqual(0UL, f & Version1);
        Assert.NotEqual(0UL, f & IndirectDesc);
        Assert.NotEqual(0UL, f & EventIdx);
        Assert.Equal(0UL, f & (1UL << VirtioBlkRegisters.FeatureRo));
        SetSel(2);
        Assert.Equal(0u, driver.Reg(0x010)); // no feature words past 63
        Assert.Equal(0, transport.Unexpected.Count);
    }

    private void SetSel(uint sel) => driver.SetReg(DeviceFeaturesSel, sel);

    [Fact]
    public void FeaturesOkIsRefusedWithoutVersion1()
    {
        Assert.False(driver.Negotiate(0));
        Assert.Equal(StatusAcknowledge | StatusDriver, driver.Reg(Status));
        Assert.True(driver.Negotiate(Version1));
        Assert.Equal(StatusAcknowledge | StatusDriver | StatusFeaturesOk, driver.Reg(Status));
    }

    [Fact]
    public void FeaturesOkIsRefusedForFeaturesNotOffered()
    {
        // Bit 27 is in the reserved transport range and not offered.
        Assert.False(driver.Negotiate(Version1 | (1UL << 27)));
    }

    [Fact]
    public void DriverFeaturesCannotChangeAfterFeaturesOk()
    {
        Assert.True(driver.Negotiate(Version1));
        driver.SetReg(DriverFeaturesSel, 0);
        driver.SetReg(DriverFeatures, 1u << FeatureRingEventIdx);
        Assert.False(transport.HasFeature(FeatureRingEventIdx));
        Assert.True(transport.HasFeature(FeatureVersion1));
    }

    [Fact]
    public void QueueSetupAndResetOnStatusZero()
    {
        driver.Initialize(Version1);
        Assert.Equal(1u, driver.Reg(QueueReady));
        Assert.Equal(15u, driver.Reg(Status));
        var q = transport.Queues[0];
        Assert.Equal(16, q.Size);
        Assert.Equal(driver.DescTable, q.DescTable);
        Assert.Equal(driver.AvailRing, q.AvailRing);
        Assert.Equal(driver.UsedRing, q.UsedRing);

        driver.Submit(VirtioBlkRegisters.TypeGetId, 0, dataInLength: 20);
        Assert.True(irq.Level);

        driver.SetReg(Status, 0);
        Assert.Equal(0u, driver.Reg(Status));
        Assert.Equal(0u, driver.Reg(QueueReady));
        Assert.Equal(0u, driver.Reg(InterruptStatus));
        Assert.False(irq.Level);
        Assert.Equal(256, q.Size); // QueueNum back to its reset value (QueueNumMax)
        Assert.Equal(0UL, q.DescTable);
        Assert.Equal(0, q.UsedIdx);
    }

    [Fact]
    public void QueueNumMustBeAPowerOfTwoNotAboveTheMaximum()
    {
        driver.SetReg(QueueSel, 0);
        driver.SetReg(QueueNum, 48);
        driver.SetReg(QueueNum, 512);
        Assert.Equal(256, transport.Queues[0].Size);
        Assert.Equal(2, transport.Unexpected.Count);
        driver.SetReg(QueueNum, 64);
        Assert.Equal(64, transport.Queues[0].Size);
    }

    [Fact]
    public void MissingQueueReadsAsUnavailable()
    {
        driver.SetReg(QueueSel, 1);
        Assert.Equal(0u, driver.Reg(QueueNumMax)); // 4.2.3.2: 0 means the queue is not available
        Assert.Equal(0u, driver.Reg(QueueReady));
    }

    [Fact]
    public void NotifyBeforeDriverOkDoesNothing()
    {
        Assert.True(driver.Negotiate(Version1));
        driver.Submit(VirtioBlkRegisters.TypeGetId, 0, dataInLength: 20);
        Assert.Empty(backend.Requests);
        Assert.Equal(0, transport.Queues[0].LastAvailIdx);
    }

    [Fact]
    public void DriverOkWithoutAcceptedFeaturesOkDoesNothing()
    {
        // The driver ignores the refusal of FEATURES_OK and sets DRIVER_OK anyway (3.1.1 says it MUST NOT).
        Assert.False(driver.Negotiate(0));
        driver.SetReg(QueueNum, 16);
        driver.SetReg(QueueDescLow, (uint)driver.DescTable);
        driver.SetReg(QueueDriverLow, (uint)driver.AvailRing);
        driver.SetReg(QueueDeviceLow, (uint)driver.UsedRing);
        driver.SetReg(QueueReady, 1);
        driver.SetReg(Status, StatusAcknowledge | StatusDriver | StatusDriverOk);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Empty(backend.Requests);
        Assert.False(transport.DriverOk);
    }

    [Fact]
    public void InterruptStatusIsLevelAndClearedByAck()
    {
        driver.Initialize(Version1);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Equal(InterruptUsedBuffer, driver.Reg(InterruptStatus));
        Assert.True(irq.Level);
        driver.SetReg(InterruptAck, InterruptUsedBuffer);
        Assert.Equal(0u, driver.Reg(InterruptStatus));
        Assert.False(irq.Level);
    }

    [Fact]
    public void NoInterruptFlagSuppressesInterruptsWithoutEventIdx()
    {
        driver.Initialize(Version1);
        driver.SetAvailFlags(AvailFlagNoInterrupt);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Equal(1, driver.UsedIdx); // the request still completes (2.6.7)
        Assert.False(irq.Level);
    }

    [Fact]
    public void EventIdxSuppressesInterruptsUntilUsedEventIsPassed()
    {
        driver.Initialize(Version1 | EventIdx);

        // used_event = 0: interrupt once used idx moves past entry 0.
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Equal(1, irq.RisingEdges);
        Assert.Equal(1, driver.AvailEvent); // the device asks to be notified at the next entry
        driver.SetReg(InterruptAck, InterruptUsedBuffer);

        // used_event = 3: entries 1 and 2 complete silently, entry 3 interrupts.
        driver.SetUsedEvent(3);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Equal(3, driver.UsedIdx);
        Assert.Equal(1, irq.RisingEdges);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Equal(4, driver.UsedIdx);
        Assert.Equal(2, irq.RisingEdges);
        Assert.Equal(4, driver.AvailEvent);
    }

    [Fact]
    public void EventIdxIgnoresTheNoInterruptFlag()
    {
        driver.Initialize(Version1 | EventIdx);
        driver.SetAvailFlags(AvailFlagNoInterrupt); // 2.6.7.2: with EVENT_IDX the flags are not used
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.True(irq.Level);
    }

    [Fact]
    public void AvailableRingOverflowSetsDeviceNeedsReset()
    {
        driver.Initialize(Version1);
        driver.SetReg(InterruptAck, 3);

        // An available idx more than the queue size ahead cannot come from a correct driver.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(ram.Span(driver.AvailRing + 2, 2), 17);
        driver.Notify();
        Assert.NotEqual(0u, driver.Reg(Status) & StatusDeviceNeedsReset);
        Assert.Equal(InterruptConfigChange, driver.Reg(InterruptStatus));
        driver.SetReg(Status, 0);
        Assert.Equal(0u, driver.Reg(Status));
    }

    [Fact]
    public void ChainErrorsAreClassified()
    {
        driver.Initialize(Version1);
        var q = transport.Queues[0];
        var memory = new GuestRamAccess(ram);
        ulong buf = driver.Alloc(64);
        ulong table = driver.Alloc(32);

        DescriptorChain Pop(ushort head, bool indirect = true)
        {
            driver.MakeAvailable(head);
            Assert.True(q.TryPop(memory, indirect, out var chain));
            return chain!;
        }

        // A readable, then two writable buffers: walked in order.
        driver.WriteDescriptor(driver.DescTable, 0, buf, 16, DescFlagNext, 1);
        driver.WriteDescriptor(driver.DescTable, 1, buf + 16, 8, DescFlagNext | DescFlagWrite, 2);
        driver.WriteDescriptor(driver.DescTable, 2, buf + 24, 1, DescFlagWrite, 0);
        var ok = Pop(0);
        Assert.Equal(ChainError.None, ok.Error);
        Assert.Equal([new VirtqBuffer(buf, 16, false), new VirtqBuffer(buf + 16, 8, true), new VirtqBuffer(buf + 24, 1, true)], ok.Buffers);

        // 2 -> 3 -> 2: a cycle ends once the walk exceeds the queue size.
        driver.WriteDescriptor(driver.DescTable, 2, buf, 1, DescFlagNext | DescFlagWrite, 3);
        driver.WriteDescriptor(driver.DescTable, 3, buf, 1, DescFlagNext | DescFlagWrite, 2);
        var loop = Pop(2);
        Assert.Equal(ChainError.TooLong, loop.Error);
        Assert.Equal(16, loop.Buffers.Count);

        driver.WriteDescriptor(driver.DescTable, 4, buf, 1, DescFlagNext, 16);
        Assert.Equal(ChainError.BadIndex, Pop(4).Error);

        driver.WriteDescriptor(driver.DescTable, 5, buf, 1, DescFlagWrite | DescFlagNext, 6);
        driver.WriteDescriptor(driver.DescTable, 6, buf, 1, 0, 0);
        Assert.Equal(ChainError.ReadableAfterWritable, Pop(5).Error);

        driver.WriteDescriptor(table, 0, buf, 1, DescFlagIndirect, 0);
        driver.WriteDescriptor(driver.DescTable, 7, table, 16, DescFlagIndirect, 0);
        Assert.Equal(ChainError.BadIndirect, Pop(7).Error); // nested indirect table (2.6.5.3.1)

        driver.WriteDescriptor(driver.DescTable, 8, table, 24, DescFlagIndirect, 0);
        Assert.Equal(ChainError.BadIndirect, Pop(8).Error); // length not a multiple of 16

        driver.WriteDescriptor(driver.DescTable, 9, table, 16, DescFlagIndirect | DescFlagNext, 0);
        Assert.Equal(ChainError.BadIndirect, Pop(9).Error); // INDIRECT with NEXT

        driver.WriteDescriptor(table, 0, buf, 4, DescFlagWrite, 0);
        driver.WriteDescriptor(driver.DescTable, 10, table, 16, DescFlagIndirect, 0);
        Assert.Equal(ChainError.BadIndirect, Pop(10, indirect: false).Error); // feature not negotiated
        var indirect = Pop(10);
        Assert.Equal(ChainError.None, indirect.Error);
        Assert.Equal([new VirtqBuffer(buf, 4, true)], indirect.Buffers);

        driver.WriteDescriptor(driver.DescTable, 11, ram.Size - 8, 16, DescFlagIndirect, 0);
        Assert.Equal(ChainError.OutOfRam, Pop(11).Error);
        Assert.False(q.TryPop(memory, true, out _)); // ring drained
    }

    [Fact]
    public void GuestRamAccessIsBoundsCheckedAndReportsWritesToCodePages()
    {
        var written = new List<(ulong, int)>();
        var access = new GuestRamAccess(ram, (a, n) => written.Add((a, n)));
        Span<byte> b = stackalloc byte[16];
        Assert.False(access.TryRead(ram.Size - 8, b));
        Assert.False(access.TryWrite(ulong.MaxValue - 4, b));
        Assert.False(access.Contains(ram.Size, 1));
        Assert.True(access.TryWrite(0x3000, b));
        Assert.Empty(written);

        // A DMA write into a page that holds translated code must reach the code cache, as a store would.
        ram.MarkCodePage(0x5000);
        Assert.True(access.TryWrite(0x4ff8, b));
        Assert.Equal([(0x4ff8UL, 16)], written);
    }

    [Fact]
    public void NeedEventFollowsVringNeedEvent()
    {
        // 2.6.10: notify when new_idx - event_idx - 1 < new_idx - old_idx (mod 2^16).
        Assert.True(VirtQueue.NeedEvent(0, 1, 0));
        Assert.False(VirtQueue.NeedEvent(5, 3, 0));
        Assert.True(VirtQueue.NeedEvent(2, 3, 0));
        Assert.False(VirtQueue.NeedEvent(3, 3, 0));
        Assert.True(VirtQueue.NeedEvent(0xFFFF, 2, 0xFFFE)); // across the wrap
    }

    [Fact]
    public void NarrowAccessesToCommonRegistersAreRecordedNotThrown()
    {
        Assert.Equal(0UL, transport.Read(MagicValue, 1));
        transport.Write(Status, 2, 1);
        transport.Write(0x0f0, 4, 1);
        Assert.Equal(0u, driver.Reg(Status));
        Assert.Equal(3, transport.Unexpected.Count);
    }

    [Fact]
    public void ConfigChangeBumpsGeneration()
    {
        driver.Initialize(Version1);
        uint before = driver.Reg(ConfigGeneration);
        transport.ConfigChanged();
        Assert.Equal(before + 1, driver.Reg(ConfigGeneration));
        Assert.Equal(InterruptConfigChange, driver.Reg(InterruptStatus));
    }

    [Fact]
    public void SaveAndRestoreKeepTheQueue()
    {
        driver.Initialize(Version1 | EventIdx);
        driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        var saved = VirtioMmioTransport.SavedState.Save(transport);

        var copy = new VirtioMmioTransport(new Blk(backend), new GuestRamAccess(ram), NullInterruptLine.Instance);
        VirtioMmioTransport.SavedState.Restore(copy, saved);
        Assert.Equal(15u, (uint)copy.Read(Status, 4));
        Assert.Equal(saved, VirtioMmioTransport.SavedState.Save(copy));
        Assert.Equal(1, copy.Queues[0].UsedIdx);

        // The restored device continues where the first one stopped.
        var driver2 = new VirtioTestDriverContinuation(copy, driver);
        driver2.Submit();
        Assert.Equal(2, driver.UsedIdx);
    }

    /// <summary>
    /// A saved state is input like a register write and is checked as strictly: a queue size of 0
    /// (which the next notification would divide by), not a power of 2 or above QueueNumMax, a
    /// missing or foreign queue, features never offered. Each is refused with a reason and changes
    /// nothing: the device goes on serving its driver.
    /// </summary>
    [Fact]
    public void RestoredStateIsCheckedAsStrictlyAsRegisterWrites()
    {
        driver.Initialize(Version1 | EventIdx);
        byte[] saved = VirtioMmioTransport.SavedState.Save(transport);
        byte[] Edited(Action<JsonNode> edit)
        {
            var node = JsonNode.Parse(saved)!;
            edit(node);
            return System.Text.Encoding.UTF8.GetBytes(node.ToJsonString());
        }

        ulong features = (ulong)JsonNode.Parse(saved)!["DriverFeatures"]!;
        var refused = new (byte[] State, int Version, string Field, string Reason)[]
        {
            (Edited(s => s["Queues"]![0]!["Size"] = 0), 2, "Queues[0].Size", "a power of 2 from 1 to 256"),
            (Edited(s => s["Queues"]![0]!["Size"] = 24), 2, "Queues[0].Size", "a power of 2 from 1 to 256"),
            (Edited(s => s["Queues"]![0]!["Size"] = 512), 2, "Queues[0].Size", "a power of 2 from 1 to 256"),
            (Edited(s => s["Queues"] = new JsonArray()), 2, "Queues", "exactly 1"),
            (Edited(s => s["Queues"]!.AsArray().Add(s["Queues"]![0]!.DeepClone())), 2, "Queues", "exactly 1"),
            (Edited(s => s["Queues"]![0]!["Index"] = 1), 2, "Queues[0].Index", "its position"),
            (Edited(s => s["DriverFeatures"] = features | (1UL << 27)), 2, "DriverFeatures", "features offered"),
            (saved, 99, "section version", "versions 1 to 2"),
        };

        foreach (var (state, version, field, reason) in refused)
        {
            var e = Assert.Throws<DeviceStateException>(() => VirtioMmioTransport.SavedState.Load(transport, version, state, "virtio-blk0"));
            Assert.Equal("virtio-blk0", e.Device);
            Assert.Equal(field, e.Field);
            Assert.Contains(reason, e.Constraint);
        }

        Assert.Equal(16, transport.Queues[0].Size);
        var r = driver.Submit(VirtioBlkRegisters.TypeFlush, 0);
        Assert.Equal((r.Head, 1u), driver.WaitUsed());
    }

    /// <summary>Submits through the restored transport with the first driver's ring state.</summary>
    private sealed class VirtioTestDriverContinuation(VirtioMmioTransport target, VirtioTestDriver ringOwner)
    {
        public void Submit()
        {
            ringOwner.Submit(VirtioBlkRegisters.TypeFlush, 0, notify: false);
            target.Write(QueueNotify, 4, 0);
        }
    }
}

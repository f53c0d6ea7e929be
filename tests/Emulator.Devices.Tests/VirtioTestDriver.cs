using System.Buffers.Binary;
using Emulator.Devices.Bus;
using Emulator.X86.Memory;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;

namespace Emulator.Devices.Tests;

/// <summary>
/// A minimal virtio-mmio guest driver for tests: it negotiates features, lays out one split
/// virtqueue in guest RAM (virtio 1.1 section 2.6), adds descriptor chains, notifies, and polls
/// the used ring, touching the device only through its registers and guest memory.
/// </summary>
public sealed class VirtioTestDriver
{
    public const ulong RingBase = 0x1000;
    public const ulong DataBase = 0x40000;

    private readonly IIoDevice regs;
    private ulong nextData = DataBase;
    private ushort nextDesc;
    private ushort lastUsed;

    public VirtioTestDriver(IIoDevice regs, GuestMemory ram, ushort queueSize = 16)
    {
        this.regs = regs;
        Ram = ram;
        QueueSize = queueSize;
        DescTable = RingBase;
        AvailRing = DescTable + 16UL * queueSize;
        UsedRing = (AvailRing + 6 + 2UL * queueSize + 3) & ~3UL;
    }

    public GuestMemory Ram { get; }

    public ushort QueueSize { get; }

    public ulong DescTable { get; }

    public ulong AvailRing { get; }

    public ulong UsedRing { get; }

    public ushort AvailIdx { get; private set; }

    public uint Reg(ulong offset) => (uint)regs.Read(offset, 4);

    public void SetReg(ulong offset, uint value) => regs.Write(offset, 4, value);

    public ulong DeviceFeatures()
    {
        SetReg(DeviceFeaturesSel, 0);
        ulong low = Reg(DeviceFeaturesReg);
        SetReg(DeviceFeaturesSel, 1);
        return low | (ulong)Reg(DeviceFeaturesReg) << 32;
    }

    // The DeviceFeatures register (4.2.2); the method above has the constant's name.
    private const ulong DeviceFeaturesReg = 0x010;

    /// <summary>The initialization sequence of 3.1.1; returns false if the device refused FEATURES_OK.</summary>
    public bool Negotiate(ulong features)
    {
        SetReg(Status, 0);
        SetReg(Status, StatusAcknowledge);
        SetReg(Status, StatusAcknowledge | StatusDriver);
        SetReg(DriverFeaturesSel, 0);
        SetReg(DriverFeatures, (uint)features);
        SetReg(DriverFeaturesSel, 1);
        SetReg(DriverFeatures, (uint)(features >> 32));
        SetReg(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk);
        return (Reg(Status) & StatusFeaturesOk) != 0;
    }

    /// <summary>Negotiates, sets up queue 0 (4.2.3.2) and sets DRIVER_OK.</summary>
    public void Initialize(ulong features)
    {
        if (!Negotiate(features))
        {
            throw new InvalidOperationException("device refused FEATURES_OK");
        }

        Ram.Span(RingBase, (int)(UsedRing + 6 + 8UL * QueueSize - RingBase)).Clear();
        SetReg(QueueSel, 0);
        if (Reg(QueueReady) != 0 || Reg(QueueNumMax) < QueueSize)
        {
            throw new InvalidOperationException("queue 0 unusable");
        }

        SetReg(QueueNum, QueueSize);
        SetReg(QueueDescLow, (uint)DescTable);
        SetReg(QueueDescHigh, (uint)(DescTable >> 32));
        SetReg(QueueDriverLow, (uint)AvailRing);
        SetReg(QueueDriverHigh, (uint)(AvailRing >> 32));
        SetReg(QueueDeviceLow, (uint)UsedRing);
        SetReg(QueueDeviceHigh, (uint)(UsedRing >> 32));
        SetReg(QueueReady, 1);
        SetReg(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk | StatusDriverOk);
        AvailIdx = 0;
        lastUsed = 0;
        nextDesc = 0;
    }

    /// <summary>A buffer in guest RAM (16-byte aligned, bump-allocated).</summary>
    public ulong Alloc(int length)
    {
        ulong a = nextData;
        nextData = (nextData + (ulong)length + 15) & ~15UL;
        Ram.Span(a, length).Clear();
        return a;
    }

    public ulong AllocBytes(ReadOnlySpan<byte> data)
    {
        ulong a = Alloc(data.Length);
        data.CopyTo(Ram.Span(a, data.Length));
        return a;
    }

    public void WriteDescriptor(ulong table, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        var d = Ram.Span(table + 16UL * (ulong)index, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    /// <summary>Writes a chain of direct descriptors (2.6.5) and returns its head (not yet made available).</summary>
    public ushort WriteChain(params (ulong Addr, uint Len, bool Write)[] buffers)
    {
        ushort head = nextDesc;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((head + i) % QueueSize);
            ushort next = (ushort)((head + i + 1) % QueueSize);
            var b = buffers[i];
            ushort flags = (ushort)((b.Write ? DescFlagWrite : 0) | (i + 1 < buffers.Length ? DescFlagNext : 0));
            WriteDescriptor(DescTable, index, b.Addr, b.Len, flags, next);
        }

        nextDesc = (ushort)((head + buffers.Length) % QueueSize);
        return head;
    }

    /// <summary>Writes an indirect table (2.6.5.3) in RAM and one descriptor pointing to it; returns the head.</summary>
    public ushort WriteIndirectChain(params (ulong Addr, uint Len, bool Write)[] buffers)
    {
        ulong table = Alloc(16 * buffers.Length);
        for (int i = 0; i < buffers.Length; i++)
        {
            var b = buffers[i];
            ushort flags = (ushort)((b.Write ? DescFlagWrite : 0) | (i + 1 < buffers.Length ? DescFlagNext : 0));
            WriteDescriptor(table, i, b.Addr, b.Len, flags, (ushort)(i + 1));
        }

        ushort head = nextDesc;
        WriteDescriptor(DescTable, head, table, (uint)(16 * buffers.Length), DescFlagIndirect, 0);
        nextDesc = (ushort)((head + 1) % QueueSize);
        return head;
    }

    /// <summary>Puts <paramref name="head"/> in the available ring and publishes the new idx (2.6.13).</summary>
    public void MakeAvailable(ushort head)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Span(AvailRing + 4 + 2UL * (ulong)(AvailIdx % QueueSize), 2), head);
        AvailIdx++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Span(AvailRing + 2, 2), AvailIdx);
    }

    public void Notify() => SetReg(QueueNotify, 0);

    public ushort AddAndNotify(params (ulong Addr, uint Len, bool Write)[] buffers)
    {
        ushort head = WriteChain(buffers);
        MakeAvailable(head);
        Notify();
        return head;
    }

    public ushort UsedIdx => BinaryPrimitives.ReadUInt16LittleEndian(Ram.Span(UsedRing + 2, 2));

    /// <summary>avail_event, written by the device at the end of the used ring (2.6.8).</summary>
    public ushort AvailEvent => BinaryPrimitives.ReadUInt16LittleEndian(Ram.Span(UsedRing + 4 + 8UL * QueueSize, 2));

    /// <summary>used_event, at the end of the available ring (2.6.6).</summary>
    public void SetUsedEvent(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Ram.Span(AvailRing + 4 + 2UL * QueueSize, 2), value);

    public void SetAvailFlags(ushort flags) => BinaryPrimitives.WriteUInt16LittleEndian(Ram.Span(AvailRing, 2), flags);

    public bool TryGetUsed(out uint id, out uint len)
    {
        id = len = 0;
        if (UsedIdx == lastUsed)
        {
            return false;
        }

        var e = Ram.Span(UsedRing + 4 + 8UL * (ulong)(lastUsed % QueueSize), 8);
        id = BinaryPrimitives.ReadUInt32LittleEndian(e);
        len = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
        lastUsed++;
        return true;
    }

    /// <summary>Polls the used ring until an element arrives (for asynchronous backends); the timeout only bounds how long a failing test waits.</summary>
    public (uint Id, uint Len) WaitUsed(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            if (TryGetUsed(out uint id, out uint len))
            {
                return (id, len);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("no used element");
            }

            Thread.Sleep(1);
        }
    }
}

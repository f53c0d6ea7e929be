using System.Buffers.Binary;
using Emulator.Devices.Bus;
using Emulator.Devices.VirtioNet;
using Emulator.X86.Memory;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;

namespace Emulator.Devices.Tests;

/// <summary>A backend that records transmitted frames; <see cref="Deferred"/> keeps their sent callbacks until <see cref="CompleteAll"/>.</summary>
public sealed class RecordingNetBackend(bool offloads = true, bool deferred = false) : INetBackend
{
    private readonly List<Action> pending = [];

    public bool Offloads => offloads;

    public bool Deferred { get; set; } = deferred;

    public List<byte[]> Sent { get; } = [];

    public void Transmit(byte[] frame, Action sent)
    {
        Sent.Add(frame);
        if (Deferred)
        {
            pending.Add(sent);
        }
        else
        {
            sent();
        }
    }

    public void CompleteAll()
    {
        var now = pending.ToArray();
        pending.Clear();
        foreach (var sent in now)
        {
            sent();
        }
    }
}

/// <summary>
/// A two-queue virtio-mmio driver for virtio-net tests: queue 0 (receive) and queue 1
/// (transmit) laid out in guest RAM as split virtqueues (virtio 1.1 section 2.6), each with its
/// own descriptor table and rings, touched only through registers and guest memory.
/// </summary>
public sealed class NetTestDriver
{
    private readonly IIoDevice regs;
    private readonly Ring[] rings;
    private ulong nextData = 0x80000;

    public NetTestDriver(IIoDevice regs, GuestMemory ram, ushort queueSize = 16)
    {
        this.regs = regs;
        Ram = ram;
        rings = [new Ring(0x1000, queueSize), new Ring(0x8000, queueSize)];
    }

    public GuestMemory Ram { get; }

    public Ring Rx => rings[0];

    public Ring Tx => rings[1];

    public uint Reg(ulong offset) => (uint)regs.Read(offset, 4);

    public void SetReg(ulong offset, uint value) => regs.Write(offset, 4, value);

    public ulong DeviceFeatures()
    {
        SetReg(DeviceFeaturesSel, 0);
        ulong low = Reg(0x010);
        SetReg(DeviceFeaturesSel, 1);
        return low | (ulong)Reg(0x010) << 32;
    }

    /// <summary>3.1.1 with both queues (4.2.3.2), then DRIVER_OK unless <paramref name="driverOk"/> is false.</summary>
    public void Initialize(ulong features, bool driverOk = true)
    {
        SetReg(Status, 0);
        SetReg(Status, StatusAcknowledge | StatusDriver);
        SetReg(DriverFeaturesSel, 0);
        SetReg(DriverFeatures, (uint)features);
        SetReg(DriverFeaturesSel, 1);
        SetReg(DriverFeatures, (uint)(features >> 32));
        SetReg(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk);
        if ((Reg(Status) & StatusFeaturesOk) == 0)
        {
            throw new InvalidOperationException("device refused FEATURES_OK");
        }

        for (int q = 0; q < rings.Length; q++)
        {
            var r = rings[q];
            Ram.Span(r.DescTable, (int)(r.UsedRing + 6 + 8UL * r.Size - r.DescTable)).Clear();
            r.Clear();
            SetReg(QueueSel, (uint)q);
            SetReg(QueueNum, r.Size);
            SetReg(QueueDescLow, (uint)r.DescTable);
            SetReg(QueueDescHigh, 0);
            SetReg(QueueDriverLow, (uint)r.AvailRing);
            SetReg(QueueDriverHigh, 0);
            SetReg(QueueDeviceLow, (uint)r.UsedRing);
            SetReg(QueueDeviceHigh, 0);
            SetReg(QueueReady, 1);
        }

        if (driverOk)
        {
            SetReg(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk | StatusDriverOk);
        }
    }

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

    /// <summary>Writes a chain of direct descriptors in <paramref name="ring"/>'s table, makes it available and (unless told otherwise) notifies.</summary>
    public ushort Add(Ring ring, bool notify, params (ulong Addr, uint Len, bool Write)[] buffers)
    {
        ushort head = ring.NextDesc;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((head + i) % ring.Size);
            ushort next = (ushort)((head + i + 1) % ring.Size);
            var b = buffers[i];
            ushort flags = (ushort)((b.Write ? DescFlagWrite : 0) | (i + 1 < buffers.Length ? DescFlagNext : 0));
            WriteDescriptor(ring, index, b.Addr, b.Len, flags, next);
        }

        ring.NextDesc = (ushort)((head + buffers.Length) % ring.Size);
        MakeAvailable(ring, head);
        if (notify)
        {
            Notify(ring);
        }

        return head;
    }

    public void WriteDescriptor(Ring ring, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        var d = Ram.Span(ring.DescTable + 16UL * (ulong)index, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    public void MakeAvailable(Ring ring, ushort head)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Span(ring.AvailRing + 4 + 2UL * (ulong)(ring.AvailIdx % ring.Size), 2), head);
        ring.AvailIdx++;
        BinaryPrimitives.WriteUInt16LittleEndian(Ram.Span(ring.AvailRing + 2, 2), ring.AvailIdx);
    }

    public void Notify(Ring ring) => SetReg(QueueNotify, ring == Rx ? 0u : 1u);

    /// <summary>Posts a receive buffer of <paramref name="length"/> bytes (Linux's small-buffer layout: one writable descriptor for header and frame); returns its address.</summary>
    public ulong PostReceive(int length = 1526, bool notify = true)
    {
        ulong a = Alloc(length);
        Add(Rx, notify, (a, (uint)length, true));
        return a;
    }

    /// <summary>Sends <paramref name="frame"/> with <paramref name="header"/> (default all zero) in two descriptors, as Linux does without any_header_sg.</summary>
    public ushort Send(byte[] frame, byte[]? header = null, bool notify = true) =>
        Add(Tx, notify, (AllocBytes(header ?? new byte[12]), 12, false), (AllocBytes(frame), (uint)frame.Length, false));

    public List<(uint Id, uint Len)> Used(Ring ring)
    {
        var list = new List<(uint, uint)>();
        ushort usedIdx = BinaryPrimitives.ReadUInt16LittleEndian(Ram.Span(ring.UsedRing + 2, 2));
        while (ring.LastUsed != usedIdx)
        {
            var e = Ram.Span(ring.UsedRing + 4 + 8UL * (ulong)(ring.LastUsed % ring.Size), 8);
            list.Add((BinaryPrimitives.ReadUInt32LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e[4..])));
            ring.LastUsed++;
        }

        return list;
    }

    public sealed class Ring(ulong descTable, ushort size)
    {
        public ushort Size => size;

        public ulong DescTable => descTable;

        public ulong AvailRing => descTable + 16UL * size;

        public ulong UsedRing => (AvailRing + 6 + 2UL * size + 3) & ~3UL;

        public ushort AvailIdx { get; set; }

        public ushort NextDesc { get; set; }

        public ushort LastUsed { get; set; }

        public void Clear() => AvailIdx = NextDesc = LastUsed = 0;
    }
}

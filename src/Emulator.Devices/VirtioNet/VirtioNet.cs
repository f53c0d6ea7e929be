using System.Buffers.Binary;
using Emulator.Devices.Virtio;
using static Emulator.Devices.VirtioNet.VirtioNetRegisters;

namespace Emulator.Devices.VirtioNet;

/// <summary>
/// A virtio network device (virtio 1.1 section 5.1): one receive and one transmit queue, the MAC
/// and link status in its configuration space, frames to and from an <see cref="INetBackend"/>.
///
/// Transmit: each chain is gathered into one host array (the 12-byte virtio_net_hdr, then the
/// frame), handed to the backend and returned to the driver at once (the driver's buffers are
/// free once copied). The bytes at the backend are bounded by
/// <see cref="VirtioNetOptions.MaxTransmitBytesInFlight"/>: beyond it the device leaves chains in
/// the ring until the backend has sent some. Checksum and segmentation requests in the header
/// (VIRTIO_NET_F_CSUM, HOST_TSO4/6, offered only when the backend honours them) pass through to
/// the backend, which is the host kernel's TAP driver: it checks and performs them.
///
/// Receive: a frame goes into the next receive chain (header, then the frame, scattered over the
/// chain's writable buffers; no MRG_RXBUF, so num_buffers is 1, and no GUEST_CSUM, so the
/// header's flags are 0 and the frame is fully checksummed). With no chain posted the frame is
/// held, up to <see cref="VirtioNetOptions.MaxHeldFrames"/>, and delivered when the driver posts
/// buffers; later frames are dropped and counted, as a NIC's FIFO overflows.
///
/// Nothing the guest writes throws: a chain that cannot be walked, a transmit chain with
/// device-writable buffers, too short or too long, or asking for an offload that was not
/// negotiated is returned with length 0 and counted in <see cref="MalformedChains"/>.
/// Not thread-safe: calls come one at a time from the device's actor.
/// </summary>
public sealed partial class VirtioNet : IVirtioDevice
{
    private readonly INetBackend backend;
    private readonly VirtioNetOptions options;
    private readonly Queue<byte[]> held = new();
    private IVirtioTransport? transport;
    private long generation;
    private bool transmitting;
    private bool transmitAgain;

    public VirtioNet(INetBackend backend, VirtioNetOptions options)
    {
        this.backend = backend;
        this.options = options;
    }

    public uint DeviceType => VirtioNetRegisters.DeviceType;

    public MacAddress Mac => options.Mac;

    public ulong DeviceFeatures =>
        (1UL << FeatureMac) | (1UL << FeatureStatus)
        | (backend.Offloads ? (1UL << FeatureCsum) | (1UL << FeatureHostTso4) | (1UL << FeatureHostTso6) : 0);

    public IReadOnlyList<ushort> QueueMaxSizes => [options.QueueSize, options.QueueSize];

    /// <summary>Bytes of frames handed to the backend and not yet sent.</summary>
    public long TransmitBytesInFlight { get; private set; }

    public long TransmittedFrames { get; private set; }

    public long ReceivedFrames { get; private set; }

    /// <summary>Frames held for want of receive buffers, now.</summary>
    public int HeldFrames => held.Count;

    /// <summary>Frames dropped because the guest had posted no receive buffers and the hold was full.</summary>
    public long DroppedNoBuffer { get; private set; }

    /// <summary>Frames dropped because the driver was not ready (before DRIVER_OK, or after a reset).</summary>
    public long DroppedNotReady { get; private set; }

    /// <summary>Received frames dropped because they did not fit the receive chain, or were not frames (shorter than an Ethernet header).</summary>
    public long DroppedBadFrame { get; private set; }

    public long MalformedChains { get; private set; }

    private IVirtioTransport Transport => transport ?? throw new InvalidOperationException("virtio-net is not attached to a transport");

    public void Attach(IVirtioTransport t) => transport = t;

    public void Reset()
    {
        generation++;
        held.Clear();
    }

    public bool ReadConfig(int offset, int size, out ulong value)
    {
        value = 0;
        if (size is not (1 or 2 or 4 or 8) || offset < 0 || offset + size > ConfigSize)
        {
            return false;
        }

        Span<byte> config = stackalloc byte[ConfigSize];
        for (int i = 0; i < 6; i++)
        {
            config[ConfigMac + i] = options.Mac[i];
        }

        BinaryPrimitives.WriteUInt16LittleEndian(config[ConfigStatus..], StatusLinkUp);
        BinaryPrimitives.WriteUInt16LittleEndian(config[ConfigMaxVirtqueuePairs..], 1);
        Span<byte> v = stackalloc byte[8];
        v.Clear();
        config.Slice(offset, size).CopyTo(v);
        value = BinaryPrimitives.ReadUInt64LittleEndian(v);
        return true;
    }

    /// <summary>Nothing is writable: with VERSION_1 the MAC is changed through the control queue (5.1.4.2), which is not offered.</summary>
    public bool WriteConfig(int offset, int size, ulong value) => false;

    public void QueueNotify(VirtQueue queue)
    {
        if (queue.Index == ReceiveQueue)
        {
            DeliverHeld();
        }
        else
        {
            Transmit();
        }
    }

    /// <summary>A frame from the backend (header first; the backend's header is replaced). Call inside the device's actor.</summary>
    public void Receive(byte[] frame)
    {
        if (frame.Length < HeaderSize + MinFrame || frame.Length > options.MaxFrameBytes)
        {
            DroppedBadFrame++;
            return;
        }

        if (transport is null || !transport.DriverOk)
        {
            DroppedNotReady++;
            return;
        }

        if (held.Count == 0 && TryDeliver(frame))
        {
            return;
        }

        if (held.Count >= options.MaxHeldFrames)
        {
            DroppedNoBuffer++;
            return;
        }

        held.Enqueue(frame);
        DeliverHeld();
    }

    private VirtQueue RxQueue => Transport.Queues[ReceiveQueue];

    private VirtQueue TxQueue => Transport.Queues[TransmitQueue];

    private void DeliverHeld()
    {
        while (held.TryPeek(out var frame) && TryDeliver(frame))
        {
            held.Dequeue();
        }
    }

    /// <summary>Puts <paramref name="frame"/> in the next receive chain; false when the driver has posted none (the frame is kept).</summary>
    private bool TryDeliver(byte[] frame)
    {
        var t = Transport;
        var queue = RxQueue;
        if (!t.DriverOk)
        {
            return false;
        }

        bool eventIdx = t.HasFeature(VirtioMmioRegisters.FeatureRingEventIdx);
        bool indirect = t.HasFeature(VirtioMmioRegisters.FeatureRingIndirectDesc);
        while (true)
        {
            if (!queue.TryPop(t.Memory, indirect, out var chain))
            {
                if (queue.Broken)
                {
                    MalformedChains++;
                    t.NeedsReset();
                    return false;
                }

                if (!eventIdx)
                {
                    return false;
                }

                // 2.6.10: ask to be notified when the driver posts the next buffer, then look
                // again in case it posted one before it could see avail_event.
                queue.SetAvailEvent(t.Memory);
                if (!queue.HasAvailable(t.Memory))
                {
                    return false;
                }

                continue;
            }

            if (chain!.Error != ChainError.None || chain.Buffers.Any(b => !b.IsWritable))
            {
                // Not a receive buffer: give it back empty and try the next one.
                MalformedChains++;
                Complete(queue, chain.Head, 0);
                continue;
            }

            long room = chain.Buffers.Sum(b => (long)b.Length);
            if (room < frame.Length)
            {
                // Without MRG_RXBUF a frame must fit one chain (5.1.6.3.1); Linux posts room for
                // a full-size frame, so only an oversized frame or an odd driver gets here.
                DroppedBadFrame++;
                Complete(queue, chain.Head, 0);
                return true;
            }

            // The device's own header: no flags, no GSO, one buffer (5.1.6.4).
            frame.AsSpan(0, HeaderSize).Clear();
            BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(HeaderNumBuffers), 1);
            if (!Scatter(t.Memory, chain.Buffers, frame))
            {
                MalformedChains++;
                Complete(queue, chain.Head, 0);
                continue;
            }

            ReceivedFrames++;
            Complete(queue, chain.Head, (uint)frame.Length);
            return true;
        }
    }

    private void Transmit()
    {
        if (transmitting)
        {
            // A backend that completes inside Transmit (tests) comes back here; finish the loop first.
            transmitAgain = true;
            return;
        }

        transmitting = true;
        try
        {
            do
            {
                transmitAgain = false;
                TransmitChains();
            }
            while (transmitAgain);
        }
        finally
        {
            transmitting = false;
        }
    }

    private void TransmitChains()
    {
        var t = Transport;
        if (!t.DriverOk)
        {
            return;
        }

        var queue = TxQueue;
        bool eventIdx = t.HasFeature(VirtioMmioRegisters.FeatureRingEventIdx);
        bool indirect = t.HasFeature(VirtioMmioRegisters.FeatureRingIndirectDesc);
        while (true)
        {
            bool any = false;
            while (TransmitBytesInFlight < options.MaxTransmitBytesInFlight && queue.TryPop(t.Memory, indirect, out var chain))
            {
                TransmitChain(chain!);
                any = true;
            }

            if (any)
            {
                t.SignalUsed(queue);
            }

            if (queue.Broken)
            {
                MalformedChains++;
                t.NeedsReset();
                return;
            }

            if (TransmitBytesInFlight >= options.MaxTransmitBytesInFlight)
            {
                // Resumed by the backend's sent callbacks; no notification is needed meanwhile.
                return;
            }

            if (!eventIdx)
            {
                return;
            }

            queue.SetAvailEvent(t.Memory);
            if (!queue.HasAvailable(t.Memory))
            {
                return;
            }
        }
    }

    private void TransmitChain(DescriptorChain chain)
    {
        var t = Transport;
        var queue = TxQueue;
        long length = chain.Buffers.Sum(b => (long)b.Length);
        if (chain.Error != ChainError.None || chain.Buffers.Any(b => b.IsWritable) || length < HeaderSize + MinFrame || length > options.MaxFrameBytes)
        {
            MalformedChains++;
            PushUsed(queue, chain.Head, 0);
            return;
        }

        var frame = new byte[length];
        if (!Gather(t.Memory, chain.Buffers, frame) || !OffloadsNegotiated(frame))
        {
            MalformedChains++;
            PushUsed(queue, chain.Head, 0);
            return;
        }

        // num_buffers is the device's field (5.1.6.2: the driver sets it to 0).
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(HeaderNumBuffers), 0);
        TransmitBytesInFlight += length;
        TransmittedFrames++;
        long submittedIn = generation;
        backend.Transmit(frame, () =>
        {
            TransmitBytesInFlight -= length;
            if (submittedIn == generation && TransmitBytesInFlight < options.MaxTransmitBytesInFlight)
            {
                Transmit();
            }
        });
        PushUsed(queue, chain.Head, 0);
    }

    /// <summary>5.1.6.2: NEEDS_CSUM only with VIRTIO_NET_F_CSUM, a GSO type only with the matching HOST_TSO feature.</summary>
    private bool OffloadsNegotiated(byte[] frame)
    {
        var t = Transport;
        byte flags = frame[HeaderFlags];
        byte gso = frame[HeaderGsoType];
        if ((flags & ~HeaderFlagNeedsCsum) != 0 || ((flags & HeaderFlagNeedsCsum) != 0 && !t.HasFeature(FeatureCsum)))
        {
            return false;
        }

        return (gso & ~GsoEcn) switch
        {
            GsoNone => (gso & GsoEcn) == 0,
            GsoTcpV4 => (gso & GsoEcn) == 0 && t.HasFeature(FeatureHostTso4) && (flags & HeaderFlagNeedsCsum) != 0,
            GsoTcpV6 => (gso & GsoEcn) == 0 && t.HasFeature(FeatureHostTso6) && (flags & HeaderFlagNeedsCsum) != 0,
            _ => false,
        };
    }

    private void Complete(VirtQueue queue, ushort head, uint length)
    {
        if (PushUsed(queue, head, length))
        {
            Transport.SignalUsed(queue);
        }
    }

    private bool PushUsed(VirtQueue queue, ushort head, uint length)
    {
        if (queue.PushUsed(Transport.Memory, head, length))
        {
            return true;
        }

        Transport.NeedsReset();
        return false;
    }

    private static bool Gather(IGuestMemoryAccess memory, IReadOnlyList<VirtqBuffer> buffers, byte[] into)
    {
        int at = 0;
        foreach (var b in buffers)
        {
            if (!memory.TryRead(b.Address, into.AsSpan(at, (int)b.Length)))
            {
                return false;
            }

            at += (int)b.Length;
        }

        return true;
    }

    private static bool Scatter(IGuestMemoryAccess memory, IReadOnlyList<VirtqBuffer> buffers, byte[] data)
    {
        int at = 0;
        foreach (var b in buffers)
        {
            if (at == data.Length)
            {
                break;
            }

            int n = (int)Math.Min(b.Length, (uint)(data.Length - at));
            if (!memory.TryWrite(b.Address, data.AsSpan(at, n)))
            {
                return false;
            }

            at += n;
        }

        return true;
    }
}

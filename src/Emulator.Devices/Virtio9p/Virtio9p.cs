using System.Buffers.Binary;
using System.Text;
using Emulator.Devices.Virtio;
using static Emulator.Devices.Virtio9p.Virtio9pRegisters;

namespace Emulator.Devices.Virtio9p;

/// <summary>
/// A virtio 9P transport device (virtio 1.1 section 5.11; Linux net/9p/trans_virtio.c): one request
/// queue; each chain carries one T-message in its device-readable buffers and room for the
/// R-message in its device-writable ones. The device gathers the message, checks its framing
/// (size[4] type[1] tag[2], the size within the readable bytes), hands it to the
/// <see cref="IP9Backend"/> and, when the reply comes back, scatters it over the writable buffers
/// and returns the chain. The Linux client's zero-copy reads and writes put the data in further
/// buffers of the same chain, so gathering and scattering in order is all they need.
///
/// A chain whose framing is broken (shorter than a header, a size beyond its readable bytes or
/// beyond <see cref="Virtio9pOptions.MaxMessageBytes"/>, no room for an Rlerror) cannot be
/// answered with a tag: it is returned with length 0 and counted in <see cref="MalformedChains"/>.
/// Not thread-safe: calls and backend completions come one at a time from the device's actor.
/// </summary>
public sealed partial class Virtio9p : IVirtioDevice
{
    /// <summary>An Rlerror: header and ecode[4].</summary>
    private const int RlerrorSize = P9Type.HeaderSize + 4;

    private readonly IP9Backend backend;
    private readonly Virtio9pOptions options;
    private readonly byte[] tag;
    private IVirtioTransport? transport;

    // Bumped by a reset: replies to requests submitted before it are dropped.
    private long generation;

    public Virtio9p(IP9Backend backend, string mountTag, Virtio9pOptions? options = null)
    {
        this.backend = backend;
        this.options = options ?? new Virtio9pOptions();
        tag = Encoding.UTF8.GetBytes(mountTag);
        if (tag.Length is 0 or > MaxTagBytes)
        {
            throw new ArgumentException($"a mount tag is 1 to {MaxTagBytes} bytes, not {tag.Length}", nameof(mountTag));
        }
    }

    public uint DeviceType => Virtio9pRegisters.DeviceType;

    public ulong DeviceFeatures => 1UL << FeatureMountTag;

    public IReadOnlyList<ushort> QueueMaxSizes => [options.QueueSize];

    public string MountTag => Encoding.UTF8.GetString(tag);

    /// <summary>Messages handed to the backend whose reply has not come back.</summary>
    public int InFlight { get; private set; }

    public long MalformedChains { get; private set; }

    /// <summary>Names the span of each message (see <see cref="Virtio9pTrace"/>); no spans when null.</summary>
    public Bus.DeviceTrace? Trace { get; init; }

    private IVirtioTransport Transport => transport ?? throw new InvalidOperationException("virtio-9p is not attached to a transport");

    public void Attach(IVirtioTransport t) => transport = t;

    public void Reset()
    {
        generation++;
        InFlight = 0;
    }

    public bool ReadConfig(int offset, int size, out ulong value)
    {
        value = 0;
        int configSize = ConfigTag + tag.Length;
        if (size is not (1 or 2 or 4 or 8) || offset < 0 || offset >= configSize)
        {
            return false;
        }

        Span<byte> config = stackalloc byte[ConfigTag + MaxTagBytes + 8];
        config.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(config, (ushort)tag.Length);
        tag.CopyTo(config[ConfigTag..]);
        value = BinaryPrimitives.ReadUInt64LittleEndian(config.Slice(offset, 8)) & (size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1);
        return true;
    }

    /// <summary>The configuration space is read-only (5.11: the tag is the device's).</summary>
    public bool WriteConfig(int offset, int size, ulong value) => false;

    public void QueueNotify(VirtQueue queue)
    {
        var t = Transport;
        bool eventIdx = t.HasFeature(VirtioMmioRegisters.FeatureRingEventIdx);
        bool indirect = t.HasFeature(VirtioMmioRegisters.FeatureRingIndirectDesc);
        while (true)
        {
            while (InFlight < queue.Size && queue.TryPop(t.Memory, indirect, out var chain))
            {
                Handle(queue, chain!);
            }

            if (InFlight >= queue.Size && queue.HasAvailable(t.Memory))
            {
                queue.Broken = true; // more chains outstanding than descriptors: a head offered twice (2.6.5)
            }

            if (queue.Broken)
            {
                MalformedChains++;
                t.NeedsReset();
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

    private void Handle(VirtQueue queue, DescriptorChain chain)
    {
        var memory = Transport.Memory;
        ulong readable = 0, writable = 0;
        foreach (var b in chain.Buffers)
        {
            if (b.IsWritable)
            {
                writable += b.Length;
            }
            else
            {
                readable += b.Length;
            }
        }

        if (chain.Error != ChainError.None || readable < P9Type.HeaderSize || readable > (ulong)options.MaxMessageBytes || writable < RlerrorSize)
        {
            Drop(queue, chain.Head);
            return;
        }

        var request = new byte[readable];
        int at = 0;
        foreach (var b in chain.Buffers.Where(b => !b.IsWritable))
        {
            if (!memory.TryRead(b.Address, request.AsSpan(at, (int)b.Length)))
            {
                Drop(queue, chain.Head);
                return;
            }

            at += (int)b.Length;
        }

        uint size = BinaryPrimitives.ReadUInt32LittleEndian(request);
        if (size < P9Type.HeaderSize || size > readable)
        {
            Drop(queue, chain.Head);
            return;
        }

        if (size < readable)
        {
            Array.Resize(ref request, (int)size);
        }

        ushort messageTag = BinaryPrimitives.ReadUInt16LittleEndian(request.AsSpan(5));
        int capacity = (int)Math.Min(writable, (ulong)options.MaxMessageBytes);
        long submittedIn = generation;
        DateTime start = Trace is not null && Bus.DeviceTrace.Enabled ? DateTime.UtcNow : default;
        InFlight++;
        backend.Submit(request, capacity, reply =>
        {
            if (submittedIn != generation)
            {
                return;
            }

            InFlight--;
            if (reply.Length < P9Type.HeaderSize || reply.Length > capacity)
            {
                // The server's reply must fit what the guest gave; answer EIO rather than overrun it.
                reply = new P9Writer(P9Type.Rlerror, messageTag).U32(P9Errno.EIO).Finish();
            }

            if (Trace is not null && start != default)
            {
                Virtio9pTrace.Record(Trace, start, request, reply);
            }

            Reply(queue, chain, reply);
        });
    }

    /// <summary>Scatters <paramref name="reply"/> over the chain's writable buffers, in order, and returns the chain.</summary>
    private void Reply(VirtQueue queue, DescriptorChain chain, byte[] reply)
    {
        int at = 0;
        foreach (var b in chain.Buffers)
        {
            if (!b.IsWritable || at == reply.Length)
            {
                continue;
            }

            int n = (int)Math.Min(b.Length, (uint)(reply.Length - at));
            if (!Transport.Memory.TryWrite(b.Address, reply.AsSpan(at, n)))
            {
                Drop(queue, chain.Head);
                return;
            }

            at += n;
        }

        Complete(queue, chain.Head, (uint)at);
    }

    private void Drop(VirtQueue queue, ushort head)
    {
        MalformedChains++;
        Complete(queue, head, 0);
    }

    private void Complete(VirtQueue queue, ushort head, uint length)
    {
        if (queue.PushUsed(Transport.Memory, head, length))
        {
            Transport.SignalUsed(queue);
        }
        else
        {
            Transport.NeedsReset();
        }
    }
}

/// <summary>Choices for a <see cref="Virtio9p"/>.</summary>
public sealed record Virtio9pOptions
{
    /// <summary>QueueNumMax of the request queue (Linux's 9p transport uses up to 128 descriptors a request).</summary>
    public ushort QueueSize { get; init; } = 128;

    /// <summary>The largest message, request or reply, the device moves (above any msize the server agrees to).</summary>
    public int MaxMessageBytes { get; init; } = 1 << 20;
}

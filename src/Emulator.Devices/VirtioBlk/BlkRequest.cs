using System.Buffers.Binary;
using Emulator.Devices.Virtio;
using static Emulator.Devices.VirtioBlk.VirtioBlkRegisters;

namespace Emulator.Devices.VirtioBlk;

/// <summary>
/// One virtio-blk request as laid out in its chain (5.2.6): header (type, sector) in the first 16
/// device-readable bytes, then data-out; data-in in the device-writable bytes, then the status
/// byte last. Buffers may be split or merged any way (2.6.4.3).
/// </summary>
internal sealed class BlkRequest
{
    private readonly List<VirtqBuffer> readable;
    private readonly List<VirtqBuffer> writable;

    private BlkRequest(ushort head, List<VirtqBuffer> readable, List<VirtqBuffer> writable, ulong statusAddress)
    {
        Head = head;
        this.readable = readable;
        this.writable = writable;
        StatusAddress = statusAddress;
    }

    public ushort Head { get; }

    public uint Type { get; private set; }

    public ulong Sector { get; private set; }

    public ulong StatusAddress { get; }

    /// <summary>The chain has a status byte but is otherwise unusable (short header, buffers outside RAM): answer IOERR.</summary>
    public bool Malformed { get; private set; }

    /// <summary>Device-readable bytes after the header.</summary>
    public ulong DataOutLength { get; private set; }

    /// <summary>Device-writable bytes before the status byte.</summary>
    public ulong DataInLength { get; private set; }

    /// <summary>When the device took the request off the queue, if it is traced (otherwise default).</summary>
    public DateTime TraceStart { get; set; }

    /// <summary>Bytes the ranges of a discard or write-zeroes cover, once parsed.</summary>
    public ulong RangeBytes { get; set; }

    /// <summary>Null when the chain cannot be answered at all: walk error, or no status byte in RAM.</summary>
    public static BlkRequest? Parse(DescriptorChain chain, IGuestMemoryAccess memory)
    {
        if (chain.Error != ChainError.None)
        {
            return null;
        }

        var readable = new List<VirtqBuffer>();
        var writable = new List<VirtqBuffer>();
        ulong readBytes = 0, writeBytes = 0;
        bool allInRam = true;
        foreach (var b in chain.Buffers)
        {
            if (b.Length == 0)
            {
                continue;
            }

            allInRam &= memory.Contains(b.Address, b.Length);
            (b.IsWritable ? writable : readable).Add(b);
            if (b.IsWritable)
            {
                writeBytes += b.Length;
            }
            else
            {
                readBytes += b.Length;
            }
        }

        if (writable.Count == 0)
        {
            return null;
        }

        var last = writable[^1];
        ulong statusAddress = last.Address + last.Length - 1;
        if (!memory.Contains(statusAddress, 1))
        {
            return null;
        }

        // The status byte is no longer part of the data-in buffers.
        writable[^1] = last with { Length = last.Length - 1 };
        var request = new BlkRequest(chain.Head, readable, writable, statusAddress)
        {
            DataInLength = writeBytes - 1,
            DataOutLength = readBytes >= RequestHeaderSize ? readBytes - RequestHeaderSize : 0,
        };

        Span<byte> header = stackalloc byte[RequestHeaderSize];
        if (!allInRam || readBytes < RequestHeaderSize || !Gather(memory, readable, 0, header))
        {
            request.Malformed = true;
            return request;
        }

        request.Type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        request.Sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        return request;
    }

    /// <summary>Copies data-out bytes, starting <paramref name="skip"/> bytes into the data, into <paramref name="destination"/>.</summary>
    public bool ReadDataOut(IGuestMemoryAccess memory, Span<byte> destination, ulong skip = 0) =>
        Gather(memory, readable, RequestHeaderSize + skip, destination);

    /// <summary>Scatters <paramref name="source"/> over the data-in buffers, starting <paramref name="skip"/> bytes into them.</summary>
    public bool WriteDataIn(IGuestMemoryAccess memory, ReadOnlySpan<byte> source, ulong skip = 0)
    {
        foreach (var b in writable)
        {
            if (source.IsEmpty)
            {
                break;
            }

            if (skip >= b.Length)
            {
                skip -= b.Length;
                continue;
            }

            int n = (int)Math.Min(b.Length - skip, (ulong)source.Length);
            if (!memory.TryWrite(b.Address + skip, source[..n]))
            {
                return false;
            }

            source = source[n..];
            skip = 0;
        }

        return source.IsEmpty;
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes starting <paramref name="skip"/> bytes into the buffers.</summary>
    private static bool Gather(IGuestMemoryAccess memory, List<VirtqBuffer> buffers, ulong skip, Span<byte> destination)
    {
        foreach (var b in buffers)
        {
            if (destination.IsEmpty)
            {
                break;
            }

            if (skip >= b.Length)
            {
                skip -= b.Length;
                continue;
            }

            int n = (int)Math.Min(b.Length - skip, (ulong)destination.Length);
            if (!memory.TryRead(b.Address + skip, destination[..n]))
            {
                return false;
            }

            destination = destination[n..];
            skip = 0;
        }

        return destination.IsEmpty;
    }
}

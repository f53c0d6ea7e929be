using Microsoft.Win32.SafeHandles;

namespace Emulator.Machine.Block;

/// <summary>
/// Positional I/O through the layer chain, called concurrently from the backend's I/O threads.
/// A read takes each cluster from the highest layer whose bitmap has it (the raw base has
/// everything). A write into a cluster the top overlay already has goes straight to it; into one
/// it does not have, it copies the cluster up under that cluster's (striped) lock: read the
/// cluster from the layers below, merge the new bytes, write the whole cluster, then set its bit.
/// </summary>
public sealed partial class BlockImage
{
    private const int ClusterBits = CowHeader.ClusterBits;
    private const int ClusterSize = CowHeader.ClusterSize;
    private const int StripeCount = 64;
    private const int ZeroChunk = 1 << 20;
    private static readonly byte[] Zeroes = new byte[ZeroChunk];

    /// <summary>One cluster of scratch per I/O thread for copy-up merges.</summary>
    [ThreadStatic]
    private static byte[]? clusterScratch;

    /// <summary>The quota a cluster the top overlay allocates is taken from (none: unlimited). Writes to a raw base take none.</summary>
    public DiskQuota? Quota { get; set; }

    private readonly Lock[] stripes = [.. Enumerable.Range(0, StripeCount).Select(_ => new Lock())];

    /// <summary>Reads at <paramref name="offset"/> up to the end of the disk; returns the bytes read (fewer than asked only at the end). Past the end of a layer's file reads as zeroes.</summary>
    public int Read(Span<byte> buffer, long offset)
    {
        CheckRange(offset, 0);
        int n = (int)Math.Min(buffer.Length, (long)SizeBytes - offset);
        var chain = overlays;
        ReadBelow(chain, chain.Length - 1, buffer[..n], offset);
        return n;
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>, which must lie within the disk.</summary>
    public void Write(ReadOnlySpan<byte> data, long offset)
    {
        if (IsReadOnly)
        {
            throw new InvalidOperationException($"{Path} is read-only");
        }

        CheckRange(offset, data.Length);
        var chain = overlays;
        if (chain.Length == 0)
        {
            RandomAccess.Write(baseFile.SafeFileHandle, data, offset);
            return;
        }

        var top = chain[^1];
        while (!data.IsEmpty)
        {
            long cluster = offset >> ClusterBits;
            if (top.IsAllocated(cluster))
            {
                // Whole run of clusters the top already has: one write.
                long end = (cluster + 1) << ClusterBits;
                while (end - offset < data.Length && top.IsAllocated(end >> ClusterBits))
                {
                    end += ClusterSize;
                }

                int n = (int)Math.Min(data.Length, end - offset);
                RandomAccess.Write(top.Handle, data[..n], top.DataStart + offset);
                data = data[n..];
                offset += n;
            }
            else
            {
                int n = (int)Math.Min(data.Length, ((cluster + 1) << ClusterBits) - offset);
                CopyUp(chain, cluster, data[..n], offset);
                data = data[n..];
                offset += n;
            }
        }
    }

    /// <summary>Writes zeroes over <paramref name="length"/> bytes at <paramref name="offset"/> (no hole punching: see RATIONALE.md).</summary>
    public void WriteZeroes(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        CheckRange(offset, length);
        for (long at = 0; at < length; at += ZeroChunk)
        {
            int n = (int)Math.Min(ZeroChunk, length - at);
            Write(Zeroes.AsSpan(0, n), offset + at);
        }
    }

    private void CopyUp(CowOverlay[] chain, long cluster, ReadOnlySpan<byte> piece, long offset)
    {
        var top = chain[^1];
        lock (stripes[cluster & (StripeCount - 1)])
        {
            if (top.IsAllocated(cluster))
            {
                // Another thread copied it up while we waited.
                RandomAccess.Write(top.Handle, piece, top.DataStart + offset);
                return;
            }

            if (Quota is { } quota && !quota.TryTake(ClusterSize))
            {
                throw new DiskQuotaExceededException(top.Path, quota.LimitBytes);
            }

            long start = cluster << ClusterBits;
            int length = (int)Math.Min(ClusterSize, (long)SizeBytes - start);
            if (piece.Length == length)
            {
                RandomAccess.Write(top.Handle, piece, top.DataStart + start);
            }
            else
            {
                var merged = (clusterScratch ??= new byte[ClusterSize]).AsSpan(0, length);
                ReadBelow(chain, chain.Length - 2, merged, start);
                piece.CopyTo(merged[(int)(offset - start)..]);
                RandomAccess.Write(top.Handle, merged, top.DataStart + start);
            }

            top.MarkAllocated(cluster);
        }
    }

    /// <summary>Reads the merged view of layers 0..<paramref name="level"/> of <paramref name="chain"/> (-1: the raw base alone).</summary>
    private void ReadBelow(CowOverlay[] chain, int level, Span<byte> buffer, long offset)
    {
        if (level < 0)
        {
            ReadFully(baseFile.SafeFileHandle, buffer, offset);
            return;
        }

        while (!buffer.IsEmpty)
        {
            long cluster = offset >> ClusterBits;
            int layer = LayerOf(chain, level, cluster);
            long end = (cluster + 1) << ClusterBits;
            while (end - offset < buffer.Length && LayerOf(chain, level, end >> ClusterBits) == layer)
            {
                end += ClusterSize;
            }

            int n = (int)Math.Min(buffer.Length, end - offset);
            if (layer < 0)
            {
                ReadFully(baseFile.SafeFileHandle, buffer[..n], offset);
            }
            else
            {
                ReadFully(chain[layer].Handle, buffer[..n], chain[layer].DataStart + offset);
            }

            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>The highest layer at or below <paramref name="level"/> that has <paramref name="cluster"/>; -1 for the raw base.</summary>
    private static int LayerOf(CowOverlay[] chain, int level, long cluster)
    {
        while (level >= 0 && !chain[level].IsAllocated(cluster))
        {
            level--;
        }

        return level;
    }

    /// <summary>Fills <paramref name="buffer"/>; what lies past the end of the file reads as zeroes, as past a sparse end.</summary>
    private static void ReadFully(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[done..], offset + done);
            if (n == 0)
            {
                buffer[done..].Clear();
                return;
            }

            done += n;
        }
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || (ulong)offset > SizeBytes || (ulong)length > SizeBytes - (ulong)offset)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length} is beyond the end of {Path} ({SizeBytes} bytes)");
        }
    }
}

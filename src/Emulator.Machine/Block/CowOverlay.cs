using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Emulator.Machine.Block;

/// <summary>
/// One copy-on-write overlay file of a <see cref="BlockImage"/> chain: its header, its allocation
/// bitmap (1 bit per 64 KiB cluster; a set bit means the cluster's data is in this file at
/// <see cref="DataStart"/> + its virtual offset) and the file handle. Bits are only ever set, never
/// cleared, so readers test them without a lock; the chain sets a bit only after the whole
/// cluster's data is written. The bitmap reaches the disk in <see cref="Flush"/> and
/// <see cref="Dispose"/>, after the data it describes (RATIONALE.md, "Durability").
/// </summary>
internal sealed class CowOverlay : IDisposable
{
    private const int PageWords = CowHeader.Size / 8;

    private readonly FileStream file;
    private readonly ulong[] live;
    private readonly ulong[] snapshot;
    private readonly ulong[] persisted;
    private readonly byte[] page = new byte[CowHeader.Size];
    private readonly Lock flushLock = new();
    private int dirty;

    private CowOverlay(string path, FileStream file, CowHeader header, ulong[] bitmap, bool readOnly)
    {
        Path = path;
        this.file = file;
        Header = header;
        IsReadOnly = readOnly;
        DataStart = header.DataStart;
        live = bitmap;
        persisted = (ulong[])bitmap.Clone();
        snapshot = new ulong[bitmap.Length];
    }

    public string Path { get; }

    public CowHeader Header { get; }

    public bool IsReadOnly { get; }

    public long DataStart { get; }

    public SafeFileHandle Handle => file.SafeFileHandle;

    /// <summary>
    /// Reads and checks the header and bitmap of the overlay open in <paramref name="file"/> (the
    /// overlay takes the stream over, and disposes it on failure) and checks that its backing file
    /// is one <paramref name="backing"/> allows (before touching it) and still the one it was made over.
    /// </summary>
    public static CowOverlay Load(string path, FileStream file, bool readOnly, BackingPolicy backing)
    {
        try
        {
            var h = new byte[CowHeader.Size];
            int got = ReadUpTo(file.SafeFileHandle, h, 0);
            var header = CowHeader.Decode(path, h, got);
            backing.Check(path, header.BackingPath);
            var bytes = new byte[header.BitmapLength];
            if (ReadUpTo(file.SafeFileHandle, bytes, header.BitmapOffset) != bytes.Length)
            {
                throw new BlockImageException(path, $"truncated overlay bitmap (the file ends before byte {header.BitmapOffset + header.BitmapLength})");
            }

            var bitmap = new ulong[bytes.Length / 8];
            for (int i = 0; i < bitmap.Length; i++)
            {
                bitmap[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(i * 8));
            }

            if (!File.Exists(header.BackingPath))
            {
                throw new BlockImageException(path, $"backing file {header.BackingPath} not found");
            }

            if (BackingIdentity.Of(header.BackingPath) != header.Backing)
            {
                throw new BlockImageException(path, $"backing file {header.BackingPath} changed since the overlay was made");
            }

            return new CowOverlay(path, file, header, bitmap, readOnly);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Writes a new, empty overlay at <paramref name="path"/> (which must not exist) over <paramref name="backingPath"/>, a file of <paramref name="backingFormat"/>, durably.</summary>
    public static void Create(string path, string backingPath, BlockFormat backingFormat, ulong virtualSize)
    {
        string backing = System.IO.Path.GetFullPath(backingPath);
        var header = new CowHeader(virtualSize, backing, backingFormat, BackingIdentity.Of(backing));
        var h = new byte[CowHeader.Size];
        header.Encode(h);
        try
        {
            using var f = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
            RandomAccess.Write(f.SafeFileHandle, h, 0);
            // The bitmap and the data area are holes until written: a sparse file, all clusters unallocated.
            f.SetLength(header.DataStart);
            f.Flush(flushToDisk: true);
        }
        catch (IOException e)
        {
            throw new BlockImageException(path, $"cannot create the overlay: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BlockImageException(path, $"no permission to create the overlay: {e.Message}", e);
        }
    }

    public bool IsAllocated(long cluster) => (Volatile.Read(ref live[cluster >> 6]) & (1UL << (int)(cluster & 63))) != 0;

    /// <summary>Called after the cluster's data is written (under the cluster's lock).</summary>
    public void MarkAllocated(long cluster)
    {
        Interlocked.Or(ref live[cluster >> 6], 1UL << (int)(cluster & 63));
        Volatile.Write(ref dirty, 1);
    }

    /// <summary>
    /// Makes every completed write durable: the bitmap is copied first, then the data is fsynced,
    /// then the copied bitmap is written (only its changed 4 KiB pages) and fsynced. Every bit in the
    /// copy was set after its cluster's data was written, so the first fsync covers that data; a
    /// bit set later waits for the next flush. Flushes run one at a time, so a later flush's
    /// bitmap is never overwritten by an earlier one's.
    /// </summary>
    public void Flush()
    {
        lock (flushLock)
        {
            if (Interlocked.Exchange(ref dirty, 0) == 0)
            {
                file.Flush(flushToDisk: true);
                return;
            }

            for (int i = 0; i < live.Length; i++)
            {
                snapshot[i] = Volatile.Read(ref live[i]);
            }

            file.Flush(flushToDisk: true);
            bool wrote = false;
            for (int p = 0; p < snapshot.Length; p += PageWords)
            {
                var words = snapshot.AsSpan(p, PageWords);
                if (words.SequenceEqual(persisted.AsSpan(p, PageWords)))
                {
                    continue;
                }

                for (int i = 0; i < words.Length; i++)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(i * 8), words[i]);
                }

                RandomAccess.Write(file.SafeFileHandle, page, Header.BitmapOffset + (long)p * 8);
                words.CopyTo(persisted.AsSpan(p, PageWords));
                wrote = true;
            }

            if (wrote)
            {
                file.Flush(flushToDisk: true);
            }
        }
    }

    /// <summary>Persists the bitmap when this overlay is writable and allocated clusters since the last flush, then closes the file.</summary>
    public void Dispose()
    {
        try
        {
            if (!IsReadOnly && Volatile.Read(ref dirty) != 0 && !file.SafeFileHandle.IsClosed)
            {
                Flush();
            }
        }
        finally
        {
            file.Dispose();
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the file ends; returns the bytes read.</summary>
    private static int ReadUpTo(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[done..], offset + done);
            if (n == 0)
            {
                break;
            }

            done += n;
        }

        return done;
    }
}

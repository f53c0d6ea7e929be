using Microsoft.Win32.SafeHandles;

namespace Emulator.Machine.Block;

/// <summary>
/// When guest writes reach the disk (QEMU's -drive cache= modes).
/// <list type="bullet">
/// <item><see cref="Writeback"/> (default): writes go to the host page cache; a guest FLUSH
/// fsyncs the image, so what the guest flushed survives a host crash.</item>
/// <item><see cref="Writethrough"/>: every write is followed by an fsync before it completes; FLUSH
/// has nothing left to do but is still honoured.</item>
/// <item><see cref="None"/>: as writethrough. QEMU's cache=none also bypasses the host page cache
/// with O_DIRECT, which needs sector-aligned host buffers; our buffers are ordinary arrays, so
/// we keep the page cache and give the same durability guarantee as writethrough.</item>
/// </list>
/// </summary>
public enum BlockCacheMode
{
    Writeback,
    Writethrough,
    None,
}

/// <summary>
/// A raw disk image file, opened for asynchronous positional I/O (FileOptions.Asynchronous,
/// <see cref="RandomAccess"/>), read-only when asked. Owned by one <see cref="BlockBackendActor"/>.
/// </summary>
public sealed class BlockImage : IDisposable
{
    private readonly FileStream stream;

    private BlockImage(string path, FileStream stream, bool readOnly, BlockCacheMode cache)
    {
        Path = path;
        this.stream = stream;
        IsReadOnly = readOnly;
        CacheMode = cache;
        SizeBytes = (ulong)stream.Length;
    }

    public string Path { get; }

    public bool IsReadOnly { get; }

    public BlockCacheMode CacheMode { get; }

    /// <summary>Size when opened; the guest sees whole 512-byte sectors of it.</summary>
    public ulong SizeBytes { get; }

    internal SafeFileHandle Handle => stream.SafeFileHandle;

    /// <summary>Opens <paramref name="path"/>; throws <see cref="BlockImageException"/> naming the file when it is missing, a directory, or not accessible.</summary>
    public static BlockImage Open(string path, bool readOnly = false, BlockCacheMode cache = BlockCacheMode.Writeback)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            throw new BlockImageException(path, "is a directory, not a disk image");
        }

        if (!File.Exists(path))
        {
            throw new BlockImageException(path, "disk image not found");
        }

        try
        {
            // bufferSize 0: no FileStream buffer, every access goes through RandomAccess on the handle.
            var stream = new FileStream(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.Read : FileShare.None, bufferSize: 0, FileOptions.Asynchronous);
            return new BlockImage(path, stream, readOnly, cache);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BlockImageException(path, readOnly ? "no permission to read the disk image" : "no permission to read and write the disk image (use a read-only drive?)", e);
        }
        catch (IOException e)
        {
            throw new BlockImageException(path, $"cannot open the disk image: {e.Message}", e);
        }
    }

    /// <summary>Makes every completed write durable (fsync).</summary>
    internal void FlushToDisk() => stream.Flush(flushToDisk: true);

    public void Dispose() => stream.Dispose();
}

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
/// A disk image: a raw base file and zero or more copy-on-write overlays over it (<c>.cow</c>,
/// <see cref="CowHeader"/>), the top one writable unless the image is read-only; lower layers are
/// frozen and only read. Each file's format is given (by the caller for the top, by the overlay's
/// header for what is below it), never guessed from its contents; see <see cref="BlockFormat"/>.
/// Positional I/O (<see cref="Read"/>, <see cref="Write"/>, <see cref="WriteZeroes"/>,
/// <see cref="FlushToDisk"/>) may be called from several threads at once.
/// <see cref="Freeze"/> freezes the top layer for a snapshot. Owned by one <see cref="BlockBackendActor"/>.
/// </summary>
public sealed partial class BlockImage : IDisposable
{
    /// <summary>Longer chains are refused: a backing path that loops back would otherwise never end.</summary>
    public const int MaxLayers = 256;

    private readonly string basePath;
    private FileStream baseFile;
    private CowOverlay[] overlays;

    private BlockImage(string basePath, FileStream baseFile, CowOverlay[] overlays, bool readOnly, BlockCacheMode cache)
    {
        this.basePath = basePath;
        this.baseFile = baseFile;
        this.overlays = overlays;
        IsReadOnly = readOnly;
        CacheMode = cache;
        SizeBytes = overlays.Length > 0 ? overlays[^1].Header.VirtualSize : (ulong)baseFile.Length;
    }

    /// <summary>The top layer: the file the guest's writes go to.</summary>
    public string Path => overlays.Length > 0 ? overlays[^1].Path : basePath;

    /// <summary>The layers' paths, the raw base first, the top last.</summary>
    public IReadOnlyList<string> Layers => [basePath, .. overlays.Select(o => o.Path)];

    /// <summary>The format of the top layer (<see cref="Path"/>): raw when there is no overlay.</summary>
    public BlockFormat TopFormat => overlays.Length > 0 ? BlockFormat.EmuCow : BlockFormat.Raw;

    public bool IsReadOnly { get; }

    public BlockCacheMode CacheMode { get; }

    /// <summary>The virtual disk size (the raw base's size when opened); the guest sees whole 512-byte sectors of it.</summary>
    public ulong SizeBytes { get; }

    /// <summary>Opens <paramref name="path"/> as a raw disk: its bytes are the disk's, whatever they are.</summary>
    public static BlockImage OpenRaw(string path, bool readOnly = false, BlockCacheMode cache = BlockCacheMode.Writeback) =>
        Open(path, BlockFormat.Raw, BackingPolicy.None, readOnly, cache);

    /// <summary>
    /// Opens <paramref name="path"/> as <paramref name="format"/>: a raw file, or an overlay with its
    /// backing chain down to the raw base, the lower layers read-only, each in the format its
    /// overlay's header records. Every backing path must be one <paramref name="backing"/> allows,
    /// or the chain is refused (<see cref="BackingFileRefusedException"/>) before that file is
    /// touched. Throws <see cref="BlockImageException"/> naming the file when it is missing, a
    /// directory, not accessible, a damaged overlay, or an overlay whose backing file changed.
    /// </summary>
    public static BlockImage Open(string path, BlockFormat format, BackingPolicy backing, bool readOnly = false, BlockCacheMode cache = BlockCacheMode.Writeback) =>
        Open(path, format, backing, BackingPolicy.Unconfined, readOnly, cache);

    /// <summary>
    /// As above, with the file at <paramref name="path"/> itself checked, once opened, against
    /// <paramref name="confinement"/> (a server's allowed directories): what was checked by name
    /// before may have been swapped since, and the descriptor is what will be used.
    /// </summary>
    public static BlockImage Open(string path, BlockFormat format, BackingPolicy backing, BackingPolicy confinement, bool readOnly = false, BlockCacheMode cache = BlockCacheMode.Writeback)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stack = new List<CowOverlay>();
        try
        {
            string current = path;
            var currentFormat = format;
            bool top = true;
            while (true)
            {
                var file = OpenFile(current, readOnly || !top);
                // The name passed the policy before the open (CowOverlay.Load); the file opened is
                // checked too, since a symbolic link or a rename could have put another one there.
                // The top is checked against the caller's confinement (a server's allowed directories).
                string? refused = (top ? confinement : backing).Refuses(file.SafeFileHandle);
                if (refused is not null)
                {
                    file.Dispose();
                    throw top ? new BlockImageException(current, $"refused: {refused}") : new BackingFileRefusedException(stack[^1].Path, current, refused);
                }

                if (currentFormat == BlockFormat.Raw)
                {
                    var image = new BlockImage(current, file, [.. Enumerable.Reverse(stack)], readOnly, cache);
                    image.CheckSizes();
                    return image;
                }

                // A file said to be an overlay that lacks the magic is refused as damaged, never read as raw.
                var layer = CowOverlay.Load(current, file, readOnly || !top, backing);
                stack.Add(layer);
                if (stack.Count >= MaxLayers)
                {
                    throw new BlockImageException(path, $"backing chain longer than {MaxLayers} layers (does a backing path loop?)");
                }

                current = layer.Header.BackingPath;
                currentFormat = layer.Header.BackingFormat;
                top = false;
            }
        }
        catch
        {
            foreach (var o in stack)
            {
                o.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Makes an empty overlay at <paramref name="overlayPath"/> (which must not exist) over
    /// <paramref name="backingPath"/> (the caller's to check), a file of <paramref name="backingFormat"/>
    /// whose own chain <paramref name="backing"/> must allow, and records that format in the new
    /// header; e.g. to restore a snapshot into a new machine.
    /// </summary>
    public static void CreateOverlay(string overlayPath, string backingPath, BlockFormat backingFormat, BackingPolicy backing)
    {
        ulong size;
        using (var below = Open(backingPath, backingFormat, backing, readOnly: true))
        {
            size = below.SizeBytes;
        }

        CowOverlay.Create(overlayPath, backingPath, backingFormat, size);
    }

    /// <summary>Writes the merged view of the chain at <paramref name="path"/> (a file of <paramref name="format"/>) to a new raw file <paramref name="rawOutput"/> (sparse where the disk reads zeroes).</summary>
    public static void Flatten(string path, BlockFormat format, BackingPolicy backing, string rawOutput)
    {
        using var image = Open(path, format, backing, readOnly: true);
        string output = System.IO.Path.GetFullPath(rawOutput);
        if (image.Layers.Any(l => System.IO.Path.GetFullPath(l) == output))
        {
            throw new BlockImageException(rawOutput, "is a layer of the chain being flattened");
        }

        using var raw = new FileStream(rawOutput, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        raw.SetLength((long)image.SizeBytes);
        var buffer = new byte[1 << 20];
        for (long at = 0; at < (long)image.SizeBytes;)
        {
            int n = image.Read(buffer, at);
            var chunk = buffer.AsSpan(0, n);
            if (chunk.ContainsAnyExcept((byte)0))
            {
                RandomAccess.Write(raw.SafeFileHandle, chunk, at);
            }

            at += n;
        }

        raw.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Freezes the top layer for a snapshot: flushes it to disk, reopens it read-only (it is never
    /// written again), makes a new empty overlay at <paramref name="newOverlayPath"/> over it and
    /// makes that the writable top. Returns the frozen layer's path. Call it only when no request
    /// is in flight. A read-only image is already frozen: nothing changes and the top's path is returned.
    /// </summary>
    public string Freeze(string newOverlayPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(newOverlayPath);
        if (IsReadOnly)
        {
            return Path;
        }

        if (File.Exists(newOverlayPath) || Directory.Exists(newOverlayPath))
        {
            throw new BlockImageException(newOverlayPath, "cannot create the overlay: the file already exists");
        }

        FlushToDisk();
        string frozen = Path;
        var frozenFormat = TopFormat;
        ReopenTop(readOnly: true);
        try
        {
            // The identity recorded in the new overlay is taken now, after the last write to the frozen layer.
            CowOverlay.Create(newOverlayPath, frozen, frozenFormat, SizeBytes);
            // Its backing file is this image's own top layer, opened already: nothing new to confine.
            var top = CowOverlay.Load(newOverlayPath, OpenFile(newOverlayPath, readOnly: false), readOnly: false, BackingPolicy.Unconfined);
            overlays = [.. overlays, top];
        }
        catch
        {
            ReopenTop(readOnly: false);
            throw;
        }

        return frozen;
    }

    /// <summary>Makes every completed write durable (fsync; for an overlay, its bitmap after its data).</summary>
    public void FlushToDisk()
    {
        if (IsReadOnly)
        {
            return;
        }

        var chain = overlays;
        if (chain.Length == 0)
        {
            baseFile.Flush(flushToDisk: true);
        }
        else
        {
            chain[^1].Flush();
        }
    }

    /// <summary>Closes every layer; a writable overlay persists its bitmap first.</summary>
    public void Dispose()
    {
        try
        {
            foreach (var o in overlays)
            {
                o.Dispose();
            }
        }
        finally
        {
            baseFile.Dispose();
        }
    }

    private void ReopenTop(bool readOnly)
    {
        string top = Path;
        if (overlays.Length == 0)
        {
            baseFile.Dispose();
            baseFile = OpenFile(top, readOnly);
        }
        else
        {
            overlays[^1].Dispose();
            // The same file again, whose backing file was checked when it was opened or made.
            overlays[^1] = CowOverlay.Load(top, OpenFile(top, readOnly), readOnly, BackingPolicy.Unconfined);
        }
    }

    /// <summary>Every overlay must have the size of what it covers: the identity check catches a changed file, this catches a forged header.</summary>
    private void CheckSizes()
    {
        ulong below = (ulong)baseFile.Length;
        foreach (var o in overlays)
        {
            if (o.Header.VirtualSize != below)
            {
                Dispose();
                throw new BlockImageException(o.Path, $"overlay size {o.Header.VirtualSize} differs from its backing file's {below}");
            }
        }
    }

    /// <summary>
    /// A read-write file is opened FileShare.None, which on Linux takes an exclusive advisory lock
    /// (a second writer is refused); a read-only one FileShare.Read, a shared lock, so two machines
    /// can share a frozen layer but nobody can open it for writing meanwhile.
    /// </summary>
    private static FileStream OpenFile(string path, bool readOnly)
    {
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
            // Opened without blocking and only if a regular file (a FIFO there would hang the open).
            return new FileStream(HostFiles.OpenRegular(path, write: !readOnly), readOnly ? FileAccess.Read : FileAccess.ReadWrite, bufferSize: 0);
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
}

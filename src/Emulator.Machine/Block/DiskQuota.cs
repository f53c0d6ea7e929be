namespace Emulator.Machine.Block;

/// <summary>
/// The disk space a node's snapshots and copy-on-write layers may take together (one directory
/// tree). What is there is measured (allocated blocks, so sparse overlays count what they hold);
/// an overlay takes a cluster's worth before it allocates one, a snapshot its size once written.
/// Thread-safe: the backends' I/O threads take from it concurrently.
/// </summary>
public sealed class DiskQuota
{
    private readonly string directory;
    private long used;

    public DiskQuota(string directory, long limitBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limitBytes);
        this.directory = directory;
        LimitBytes = limitBytes;
        Remeasure();
    }

    public long LimitBytes { get; }

    public long UsedBytes => Interlocked.Read(ref used);

    public long FreeBytes => Math.Max(0, LimitBytes - UsedBytes);

    /// <summary>Takes <paramref name="bytes"/> if they fit; false (and nothing taken) if not.</summary>
    public bool TryTake(long bytes)
    {
        if (Interlocked.Add(ref used, bytes) <= LimitBytes)
        {
            return true;
        }

        Interlocked.Add(ref used, -bytes);
        return false;
    }

    /// <summary>Measures the directory again (after files were deleted): the allocated bytes of its regular files.</summary>
    public void Remeasure()
    {
        long total = 0;
        if (Directory.Exists(directory))
        {
            foreach (string file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
            {
                total += HostFiles.AllocatedBytes(file);
            }
        }

        Interlocked.Exchange(ref used, total);
    }
}

/// <summary>A write needed space the node's snapshot and layer quota does not have: the guest sees an I/O error, the machine runs on.</summary>
public sealed class DiskQuotaExceededException(string path, long limitBytes)
    : IOException($"{path}: the snapshot and layer quota ({limitBytes >> 20} MiB) is used up")
{
}

using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Emulator.X86.Memory;

namespace Emulator.Machine.Migration;

/// <summary>How a live migration decides when to stop the guest.</summary>
public sealed record MigrationOptions
{
    /// <summary>The pre-copy ends when the pages left would take at most this long to send (QEMU's downtime-limit; 100 ms as its default was for years).</summary>
    public TimeSpan DowntimeBudget { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Rounds after the first full one before the guest is stopped whatever is left (a guest that dirties faster than the link sends).</summary>
    public int MaxRounds { get; init; } = 30;

    /// <summary>Where the source's disks are frozen (their new overlays), and the machine's id: as for a snapshot.</summary>
    public required SnapshotOptions Snapshot { get; init; }
}

/// <summary>One round of a migration, as it is reported while it runs.</summary>
public sealed record MigrationProgress(int Round, long PagesSent, long BytesSent, long DirtyPages, double DirtyPagesPerSecond, TimeSpan ExpectedDowntime, bool Final);

/// <summary>What a finished migration did and cost, on the source.</summary>
public sealed record MigrationReport(int Rounds, long PagesSent, long BytesSent, TimeSpan Total, TimeSpan Downtime);

/// <summary>
/// Pre-copy live migration of a machine over a byte stream (the transport is the caller's: a
/// pipe in tests, a gRPC stream between nodes). The source sends every RAM page while the guest
/// runs, then, round after round, the pages it dirtied meanwhile (GuestMemory.SwapDirtyLog),
/// until what is left fits the downtime budget at the measured send rate; then it pauses the
/// guest, takes a snapshot whose RAM travels in the stream instead of the file (CPUs, devices,
/// clock, disks frozen under new overlays as for any snapshot), sends the last dirty pages and
/// that snapshot. The target stages pages as they come and restores the snapshot over them.
/// Resets are held while it runs (a reset rewrites RAM behind the log's back).
/// <code>
/// stream: "EMUMIG01" | ram bytes u64 | record*
/// record: 'P' count u32, count x (page u32, kind u8: 0 zero page, 1 data, then 4096 bytes)
///       | 'S' length u64, a snapshot file (its RAM section all zero pages)
/// </code>
/// A failure or cancellation before the end leaves the source as it was (running if it ran);
/// after <see cref="SendAsync"/> returns the source is paused and the caller stops it once the
/// target has the machine (or resumes it if the target failed).
/// </summary>
public static class LiveMigration
{
    private static readonly byte[] Magic = "EMUMIG01"u8.ToArray();
    private const int PageSize = (int)GuestMemory.PageSize;
    private const int PagesPerRecord = 256;
    private const byte ZeroPage = 0, DataPage = 1;

    public static async Task<MigrationReport> SendAsync(VirtualMachine vm, Stream output, MigrationOptions options, IProgress<MigrationProgress>? progress = null, CancellationToken cancel = default)
    {
        var total = Stopwatch.StartNew();
        using var noReset = await vm.HoldResetsAsync(cancel).ConfigureAwait(false);
        var state = vm.State;
        if (state is not (MachineState.Running or MachineState.Paused))
        {
            throw new MachineStateException("migrate", state);
        }

        var memory = vm.Memory;
        var header = new byte[16];
        Magic.CopyTo(header, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), memory.Size);
        long pagesSent = 0, bytesSent = header.Length;
        bool pausedHere = false;
        try
        {
            await output.WriteAsync(header, cancel).ConfigureAwait(false);

            // Round 0 sends everything (the log was off); each later round what the guest dirtied during the one before.
            var dirty = memory.SwapDirtyLog(keepLogging: true);
            int round = 0;
            while (true)
            {
                long pages = Count(dirty);
                var sent = Stopwatch.StartNew();
                long bytes = await SendPagesAsync(memory, dirty, output, cancel).ConfigureAwait(false);
                sent.Stop();
                pagesSent += pages;
                bytesSent += bytes;
                double bytesPerSecond = bytes / Math.Max(sent.Elapsed.TotalSeconds, 1e-6);

                dirty = memory.SwapDirtyLog(keepLogging: true);
                long left = Count(dirty);
                double dirtyRate = left / Math.Max(sent.Elapsed.TotalSeconds, 1e-6);
                var expected = TimeSpan.FromSeconds(left * (PageSize + 5) / Math.Max(bytesPerSecond, 1));
                bool final = expected <= options.DowntimeBudget || round >= options.MaxRounds || state == MachineState.Paused;
                progress?.Report(new MigrationProgress(round, pagesSent, bytesSent, left, dirtyRate, expected, final));
                round++;
                if (final)
                {
                    break;
                }
            }

            // Stop and copy: the snapshot captures CPUs and devices (and freezes the disks); the
            // pages dirtied since the last round, device DMA of the quiesce included, go after it.
            var downtime = Stopwatch.StartNew();
            if (state == MachineState.Running)
            {
                vm.Pause();
                pausedHere = true;
            }

            string file = Path.Combine(options.Snapshot.LayerDirectory, $"{options.Snapshot.MachineId}-{Guid.NewGuid():n}.migration");
            try
            {
                await MachineSnapshot.SaveHoldingResetsAsync(vm, file, options.Snapshot with { RamElsewhere = _ => { } }, cancel).ConfigureAwait(false);

                // The last round's own dirty pages (taken when it was judged final) and those dirtied
                // since, the quiesce's DMA included: both go now.
                var since = memory.SwapDirtyLog(keepLogging: false);
                for (int i = 0; i < dirty.Length; i++)
                {
                    dirty[i] |= since[i];
                }

                pagesSent += Count(dirty);
                bytesSent += await SendPagesAsync(memory, dirty, output, cancel).ConfigureAwait(false);
                bytesSent += await SendFileAsync(file, output, cancel).ConfigureAwait(false);
                await output.FlushAsync(cancel).ConfigureAwait(false);
            }
            finally
            {
                File.Delete(file);
            }

            downtime.Stop();
            return new MigrationReport(round, pagesSent, bytesSent, total.Elapsed, downtime.Elapsed);
        }
        catch
        {
            if (memory.IsLoggingDirty)
            {
                memory.SwapDirtyLog(keepLogging: false);
            }

            if (pausedHere && vm.State == MachineState.Paused)
            {
                vm.Resume();
            }

            throw;
        }
    }

    /// <summary>
    /// Receives a migration stream and builds the machine it carries, not started (as
    /// MachineSnapshot.RestoreAsync, whose checks and errors it has; <see cref="SnapshotFormatException"/>
    /// also for a stream that is not a migration or ends early).
    /// </summary>
    public static async Task<VirtualMachine> ReceiveAsync(Stream input, SnapshotOptions options, Action<ReadOnlySpan<byte>> serialOutput, CancellationToken cancel = default)
    {
        var header = new byte[16];
        await ReadExactlyAsync(input, header, "its header", cancel).ConfigureAwait(false);
        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new SnapshotFormatException("migration stream", "not a migration (bad magic)");
        }

        ulong ramBytes = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8));
        if (ramBytes == 0 || ramBytes > options.MaxMemoryBytes || ramBytes % (ulong)PageSize != 0)
        {
            throw new SnapshotTooLargeException("migration stream", $"the migrating machine has {ramBytes >> 20} MiB of RAM; a machine here may have at most {options.MaxMemoryBytes >> 20} MiB");
        }

        using var staged = new StagedRam(ramBytes);
        var tag = new byte[1];
        var count = new byte[8];
        var entry = new byte[5];
        var pageBytes = new byte[PageSize];
        while (true)
        {
            await ReadExactlyAsync(input, tag, "a record", cancel).ConfigureAwait(false);
            switch (tag[0])
            {
                case (byte)'P':
                    await ReadExactlyAsync(input, count.AsMemory(0, 4), "a page record", cancel).ConfigureAwait(false);
                    uint n = BinaryPrimitives.ReadUInt32LittleEndian(count);
                    if (n > PagesPerRecord)
                    {
                        throw new SnapshotFormatException("migration stream", $"a record of {n} pages (at most {PagesPerRecord})");
                    }

                    for (uint i = 0; i < n; i++)
                    {
                        await ReadExactlyAsync(input, entry, "a page", cancel).ConfigureAwait(false);
                        ulong page = BinaryPrimitives.ReadUInt32LittleEndian(entry);
                        if (page >= ramBytes / (ulong)PageSize || entry[4] > DataPage)
                        {
                            throw new SnapshotFormatException("migration stream", $"page {page} (kind {entry[4]}) is not in {ramBytes >> 20} MiB of RAM");
                        }

                        if (entry[4] == ZeroPage)
                        {
                            staged.Page(page).Clear();
                        }
                        else
                        {
                            await ReadExactlyAsync(input, pageBytes, "a page's bytes", cancel).ConfigureAwait(false);
                            pageBytes.CopyTo(staged.Page(page));
                        }
                    }

                    break;

                case (byte)'S':
                    await ReadExactlyAsync(input, count, "the snapshot's length", cancel).ConfigureAwait(false);
                    long length = (long)BinaryPrimitives.ReadUInt64LittleEndian(count);
                    string file = Path.Combine(options.LayerDirectory, $"{options.MachineId}-{Guid.NewGuid():n}.migration");
                    try
                    {
                        await using (var f = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                        {
                            await CopyExactlyAsync(input, f, length, cancel).ConfigureAwait(false);
                        }

                        return await MachineSnapshot.RestoreAsync(file, options with
                        {
                            RamElsewhere = memory =>
                            {
                                if (memory.Size != ramBytes)
                                {
                                    throw new SnapshotFormatException("migration stream", $"{ramBytes >> 20} MiB of pages for a machine of {memory.Size >> 20} MiB");
                                }

                                staged.CopyTo(memory);
                            },
                        }, serialOutput, cancel).ConfigureAwait(false);
                    }
                    finally
                    {
                        File.Delete(file);
                    }

                default:
                    throw new SnapshotFormatException("migration stream", $"unknown record 0x{tag[0]:x2}");
            }
        }
    }

    private static long Count(ulong[] bitmap)
    {
        long n = 0;
        foreach (ulong w in bitmap)
        {
            n += BitOperations.PopCount(w);
        }

        return n;
    }

    /// <summary>Sends the pages marked in <paramref name="bitmap"/>, in records of up to 256; returns the bytes written.</summary>
    private static async Task<long> SendPagesAsync(GuestMemory memory, ulong[] bitmap, Stream output, CancellationToken cancel)
    {
        var record = new byte[5 + (PagesPerRecord * (5 + PageSize))];
        int at = 5, inRecord = 0;
        long written = 0;
        ulong pages = memory.Size / (ulong)PageSize;
        for (int w = 0; w < bitmap.Length; w++)
        {
            for (ulong bits = bitmap[w]; bits != 0; bits &= bits - 1)
            {
                ulong page = ((ulong)w * 64) + (ulong)BitOperations.TrailingZeroCount(bits);
                if (page >= pages)
                {
                    break;
                }

                // Read while the guest may write it: a page torn here was dirtied again, so the next round resends it.
                var bytes = memory.Span(page * (ulong)PageSize, PageSize);
                BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(at), (uint)page);
                if (bytes.ContainsAnyExcept((byte)0))
                {
                    record[at + 4] = DataPage;
                    bytes.CopyTo(record.AsSpan(at + 5));
                    at += 5 + PageSize;
                }
                else
                {
                    record[at + 4] = ZeroPage;
                    at += 5;
                }

                if (++inRecord == PagesPerRecord)
                {
                    written += await FlushRecord().ConfigureAwait(false);
                }
            }
        }

        if (inRecord > 0)
        {
            written += await FlushRecord().ConfigureAwait(false);
        }

        return written;

        async Task<long> FlushRecord()
        {
            record[0] = (byte)'P';
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(1), (uint)inRecord);
            await output.WriteAsync(record.AsMemory(0, at), cancel).ConfigureAwait(false);
            long n = at;
            at = 5;
            inRecord = 0;
            return n;
        }
    }

    private static async Task<long> SendFileAsync(string path, Stream output, CancellationToken cancel)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var head = new byte[9];
        head[0] = (byte)'S';
        BinaryPrimitives.WriteUInt64LittleEndian(head.AsSpan(1), (ulong)file.Length);
        await output.WriteAsync(head, cancel).ConfigureAwait(false);
        await file.CopyToAsync(output, cancel).ConfigureAwait(false);
        return head.Length + file.Length;
    }

    private static async Task ReadExactlyAsync(Stream input, Memory<byte> buffer, string what, CancellationToken cancel)
    {
        try
        {
            await input.ReadExactlyAsync(buffer, cancel).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            throw new SnapshotFormatException("migration stream", $"ended inside {what}");
        }
    }

    private static async Task CopyExactlyAsync(Stream input, Stream output, long length, CancellationToken cancel)
    {
        var buffer = new byte[1 << 16];
        while (length > 0)
        {
            int n = (int)Math.Min(buffer.Length, length);
            await ReadExactlyAsync(input, buffer.AsMemory(0, n), "the snapshot", cancel).ConfigureAwait(false);
            await output.WriteAsync(buffer.AsMemory(0, n), cancel).ConfigureAwait(false);
            length -= n;
        }
    }

    /// <summary>The target's copy of guest RAM until the machine exists (native: RAM may pass 2 GiB).</summary>
    private sealed unsafe class StagedRam(ulong size) : IDisposable
    {
        private readonly byte* bytes = (byte*)NativeMemory.AllocZeroed((nuint)size);

        public Span<byte> Page(ulong page) => new(bytes + (page * (ulong)PageSize), PageSize);

        /// <summary>Into the restored machine's RAM: this copy is part of the guest's downtime (a target that made its machine first would not need it).</summary>
        public void CopyTo(GuestMemory memory) => Buffer.MemoryCopy(bytes, memory.Ram, memory.Size, size);

        public void Dispose() => NativeMemory.Free(bytes);
    }
}

using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Emulator.Machine.Telemetry;
using Emulator.X86.Memory;

namespace Emulator.Machine.Migration;

/// <summary>How a live migration decides when to stop the guest.</summary>
public sealed record MigrationOptions
{
    /// <summary>The pre-copy ends when the pages left would take at most this long to send (QEMU's downtime-limit; 100 ms as its default was for years).</summary>
    public TimeSpan DowntimeBudget { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Rounds after the first full one before the guest is stopped whatever is left (a guest that dirties faster than the link sends).</summary>
    public int MaxRounds { get; init; } = 30;

    /// <summary>Compress page records when that makes them shorter; false sends every one as it is.</summary>
    public bool Compress { get; init; } = true;

    /// <summary>
    /// Completes when the target has accepted the stream's start (the machine's id, its disks'
    /// base files: DiskLayers); awaited before the guest is paused, so a target that refuses leaves
    /// the source running, never paused. Null: nobody to ask (the stream is all there is).
    /// </summary>
    public Func<CancellationToken, Task>? TargetAccepted { get; init; }

    /// <summary>Where the source's disks are frozen (their new overlays), and the machine's id: as for a snapshot.</summary>
    public required SnapshotOptions Snapshot { get; init; }
}

/// <summary>One round of a migration, as it is reported while it runs.</summary>
/// <remarks><paramref name="UncompressedBytes"/>: what <paramref name="BytesSent"/> would have been without compression.</remarks>
public sealed record MigrationProgress(int Round, long PagesSent, long BytesSent, long DirtyPages, double DirtyPagesPerSecond, TimeSpan ExpectedDowntime, bool Final, long UncompressedBytes);

/// <summary>What a finished migration did and cost, on the source.</summary>
/// <remarks><paramref name="UncompressedBytes"/>: what <paramref name="BytesSent"/> would have been without compression.</remarks>
public sealed record MigrationReport(int Rounds, long PagesSent, long BytesSent, TimeSpan Total, TimeSpan Downtime, long UncompressedBytes);

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
/// stream: "EMUMIG02" | ram bytes u64 | 'B' record | record*   ("EMUMIG01": without 'B', 'Z' and 'L')
/// record: 'P' count u32, body: count x (page u32, kind u8: 0 zero page, 1 data, then 4096 bytes)
///       | 'Z' count u32, body length u32, length u32, length bytes: the body in zlib (RFC 1950)
///       | 'L' a disk layer (DiskLayers), after the stop
///       | 'S' length u64, a snapshot file (its RAM section all zero pages)
/// </code>
/// A failure or cancellation before the end leaves the source as it was (running if it ran);
/// after <see cref="SendAsync"/> returns the source is paused and the caller stops it once the
/// target has the machine (or resumes it if the target failed).
/// </summary>
public static class LiveMigration
{
    /// <summary>"EMUMIG" and two digits of version: 01 pages as they are, 02 pages deflated or not.</summary>
    private static readonly byte[] Magic = "EMUMIG"u8.ToArray();
    private const int PageSize = PageRecords.PageSize;

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
        "02"u8.CopyTo(header.AsSpan(6));
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), memory.Size);
        long pagesSent = 0, bytesSent = header.Length, uncompressed = header.Length;
        bool pausedHere = false;
        try
        {
            await output.WriteAsync(header, cancel).ConfigureAwait(false);
            long bases = await DiskLayers.SendBasesAsync(vm, options.Snapshot.LayerDirectory, output, cancel).ConfigureAwait(false);
            bytesSent += bases;
            uncompressed += bases;

            // Round 0 sends everything (the log was off); each later round what the guest dirtied during the one before.
            var dirty = memory.SwapDirtyLog(keepLogging: true);
            int round = 0;
            while (true)
            {
                long pages = Count(dirty);
                using var roundSpan = EmulatorTelemetry.ControlPlane.StartActivity("migration round");
                roundSpan?.SetTag("migration.round", round);
                roundSpan?.SetTag("migration.pages", pages);
                var sent = Stopwatch.StartNew();
                var (bytes, raw) = await PageRecords.SendAsync(memory, dirty, output, options.Compress, cancel).ConfigureAwait(false);
                roundSpan?.SetTag("migration.bytes", bytes);
                sent.Stop();
                pagesSent += pages;
                bytesSent += bytes;
                uncompressed += raw;
                double bytesPerSecond = bytes / Math.Max(sent.Elapsed.TotalSeconds, 1e-6);

                dirty = memory.SwapDirtyLog(keepLogging: true);
                long left = Count(dirty);
                double dirtyRate = left / Math.Max(sent.Elapsed.TotalSeconds, 1e-6);
                // At this round's bytes per page: compression is in the rate.
                var expected = TimeSpan.FromSeconds(left * ((double)bytes / Math.Max(pages, 1)) / Math.Max(bytesPerSecond, 1));
                bool final = expected <= options.DowntimeBudget || round >= options.MaxRounds || state == MachineState.Paused;
                roundSpan?.SetTag("migration.dirty_pages", left);
                roundSpan?.SetTag("migration.final", final);
                progress?.Report(new MigrationProgress(round, pagesSent, bytesSent, left, dirtyRate, expected, final, uncompressed));
                round++;
                if (final)
                {
                    break;
                }
            }

            // Stop and copy: the snapshot captures CPUs and devices (and freezes the disks); the
            // pages dirtied since the last round, device DMA of the quiesce included, go after it,
            // then the disks' layers. Not before the target has said it can take the machine.
            if (options.TargetAccepted is { } accepted)
            {
                await output.FlushAsync(cancel).ConfigureAwait(false); // what is buffered may be all the target has to check
                await accepted(cancel).ConfigureAwait(false);
            }

            var formats = vm.Disks.Select(d => d.TopFormat).ToList(); // of the layers the freeze makes read-only
            if (state == MachineState.Running)
            {
                vm.Pause();
                pausedHere = true;
            }

            // From the guest stopped to the end of the stream (the target's restore and start come after it).
            var downtime = Stopwatch.StartNew();
            using var stopSpan = EmulatorTelemetry.ControlPlane.StartActivity("migration stop-and-copy");

            string file = Path.Combine(options.Snapshot.LayerDirectory, $"{options.Snapshot.MachineId}-{Guid.NewGuid():n}.migration");
            try
            {
                var frozen = await MachineSnapshot.SaveHoldingResetsAsync(vm, file, options.Snapshot with { RamElsewhere = _ => { } }, cancel).ConfigureAwait(false);

                // The last round's own dirty pages (taken when it was judged final) and those dirtied
                // since, the quiesce's DMA included: both go now.
                var since = memory.SwapDirtyLog(keepLogging: false);
                for (int i = 0; i < dirty.Length; i++)
                {
                    dirty[i] |= since[i];
                }

                pagesSent += Count(dirty);
                var (bytes, raw) = await PageRecords.SendAsync(memory, dirty, output, options.Compress, cancel).ConfigureAwait(false);
                long layers = await DiskLayers.SendLayersAsync(frozen.FrozenDisks, formats, options.Snapshot.LayerDirectory, output, cancel).ConfigureAwait(false);
                long snapshot = await SendFileAsync(file, output, cancel).ConfigureAwait(false);
                stopSpan?.SetTag("migration.pages", Count(dirty));
                stopSpan?.SetTag("migration.bytes", bytes + layers + snapshot);
                bytesSent += bytes + layers + snapshot;
                uncompressed += raw + layers + snapshot;
                await output.FlushAsync(cancel).ConfigureAwait(false);
            }
            finally
            {
                File.Delete(file);
            }

            downtime.Stop();
            return new MigrationReport(round, pagesSent, bytesSent, total.Elapsed, downtime.Elapsed, uncompressed);
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
    /// also for a stream that is not a migration or ends early; <see cref="MigrationDiskException"/>
    /// when this node lacks a base image of the machine's disks). <paramref name="accepted"/> is
    /// called once the stream's start is checked (the source waits for it before it pauses).
    /// </summary>
    public static async Task<VirtualMachine> ReceiveAsync(Stream input, SnapshotOptions options, Action<ReadOnlySpan<byte>> serialOutput, CancellationToken cancel = default, Func<Task>? accepted = null)
    {
        var header = new byte[16];
        await ReadExactlyAsync(input, header, "its header", cancel).ConfigureAwait(false);
        if (!header.AsSpan(0, 6).SequenceEqual(Magic))
        {
            throw new SnapshotFormatException("migration stream", "not a migration (bad magic)");
        }

        bool compressed = header.AsSpan(6, 2).SequenceEqual("02"u8);
        if (!compressed && !header.AsSpan(6, 2).SequenceEqual("01"u8))
        {
            throw new SnapshotFormatException("migration stream", $"version \"{System.Text.Encoding.ASCII.GetString(header, 6, 2)}\" of the stream; this node reads versions 01 and 02");
        }

        ulong ramBytes = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8));
        if (ramBytes == 0 || ramBytes > options.MaxMemoryBytes || ramBytes % (ulong)PageSize != 0)
        {
            throw new SnapshotTooLargeException("migration stream", $"the migrating machine has {ramBytes >> 20} MiB of RAM; a machine here may have at most {options.MaxMemoryBytes >> 20} MiB");
        }

        var tag = new byte[1];
        if (compressed)
        {
            await ReadExactlyAsync(input, tag, "a record", cancel).ConfigureAwait(false);
            if (tag[0] != DiskLayers.Bases)
            {
                throw new SnapshotFormatException("migration stream", $"a version 02 stream starts with its disks ('B'), not 0x{tag[0]:x2}");
            }

            await DiskLayers.CheckBasesAsync(input, options.Backing, cancel).ConfigureAwait(false);
        }

        if (accepted is not null)
        {
            await accepted().ConfigureAwait(false);
        }

        using var staged = new StagedRam(ramBytes);
        using var moved = new DiskLayers.Moved(options.LayerDirectory, options.MachineId);
        var count = new byte[8];
        var scratch = compressed ? new byte[PageRecords.MaxBody + 1] : [];
        while (true)
        {
            await ReadExactlyAsync(input, tag, "a record", cancel).ConfigureAwait(false);
            switch (tag[0])
            {
                case PageRecords.Plain:
                    await ReadExactlyAsync(input, count.AsMemory(0, 4), "a page record", cancel).ConfigureAwait(false);
                    await PageRecords.ReadPlainAsync(input, BinaryPrimitives.ReadUInt32LittleEndian(count), staged, cancel).ConfigureAwait(false);
                    break;

                case PageRecords.Deflated when compressed:
                    await PageRecords.ReadDeflatedAsync(input, staged, scratch, cancel).ConfigureAwait(false);
                    break;

                case DiskLayers.Layer when compressed:
                    await moved.ReceiveAsync(input, cancel).ConfigureAwait(false);
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

                        moved.Settle();
                        var vm = await MachineSnapshot.RestoreAsync(file, options with
                        {
                            MovedDisks = moved.Paths,
                            RamElsewhere = memory =>
                            {
                                if (memory.Size != ramBytes)
                                {
                                    throw new SnapshotFormatException("migration stream", $"{ramBytes >> 20} MiB of pages for a machine of {memory.Size >> 20} MiB");
                                }

                                staged.CopyTo(memory);
                            },
                        }, serialOutput, cancel).ConfigureAwait(false);
                        moved.Keep();
                        return vm;
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

    internal static async Task ReadExactlyAsync(Stream input, Memory<byte> buffer, string what, CancellationToken cancel)
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
}

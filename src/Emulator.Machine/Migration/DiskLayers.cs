using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Emulator.Machine.Block;
using Emulator.Machine.Pc;
using Emulator.Machine.Runtime;
using Emulator.Machine.Snapshots;
using Microsoft.Win32.SafeHandles;

namespace Emulator.Machine.Migration;

/// <summary>
/// A migration's disks that the target does not have: the base files are refused unless the
/// target has the same ones, by <see cref="MigrationDiskException"/>.
/// </summary>
public sealed class MigrationDiskException(string message) : Exception(message);

/// <summary>
/// How disks move with a machine (RATIONALE.md, "Disks"). The files of a disk's chain outside the
/// source's layer directory (the base images a user named) stay where they are: the target must
/// have them at the same path, with the same size and the same first MiB, and says so before the
/// source pauses ('B' records, first in the stream). The layers inside the source's layer
/// directory, the frozen top made at the stop and what earlier snapshots froze, are sent after the
/// stop ('L' records) and written into the target's layer directory, their headers' backing
/// paths rewritten to the moved copies, their modification times as on the source (an overlay's
/// header and a snapshot both record the time of the file below them).
/// <code>
/// 'B' count u16, count x (disk u16, path length u16, path UTF-8, size i64, SHA-256 of the first MiB)
/// 'L' disk u16, path length u16, path UTF-8, size i64, last write ticks UTC i64, size bytes
/// </code>
/// </summary>
internal static partial class DiskLayers
{
    public const byte Bases = (byte)'B', Layer = (byte)'L';
    private const int Checked = 1 << 20;
    private const int MaxPath = 4096;
    private const int MaxBases = PcMachine.MaxDisks * BlockImage.MaxLayers;

    private readonly record struct BaseFile(int Disk, string Path, long Size, byte[] Hash);

    /// <summary>The 'B' record of <paramref name="vm"/>'s disks: every file of their chains outside <paramref name="layerDirectory"/>.</summary>
    public static async Task<long> SendBasesAsync(VirtualMachine vm, string layerDirectory, Stream output, CancellationToken cancel)
    {
        var inLayers = BackingPolicy.Within([layerDirectory]);
        var bases = new List<BaseFile>();
        for (int i = 0; i < vm.Disks.Count; i++)
        {
            foreach (string path in vm.Disks[i].Layers.Where(p => !inLayers.Allows(p)))
            {
                var (size, hash) = Identify(path);
                bases.Add(new BaseFile(i, path, size, hash));
            }
        }

        using var record = new MemoryStream();
        record.WriteByte(Bases);
        WriteU16(record, bases.Count);
        foreach (var b in bases)
        {
            WriteU16(record, b.Disk);
            WritePath(record, b.Path);
            WriteI64(record, b.Size);
            record.Write(b.Hash);
        }

        await output.WriteAsync(record.GetBuffer().AsMemory(0, (int)record.Length), cancel).ConfigureAwait(false);
        return record.Length;
    }

    /// <summary>Reads a 'B' record (its tag read) and checks each file here: allowed, present, the same size and first MiB.</summary>
    public static async Task CheckBasesAsync(Stream input, BackingPolicy backing, CancellationToken cancel)
    {
        int count = await ReadU16Async(input, cancel).ConfigureAwait(false);
        if (count > MaxBases)
        {
            throw new SnapshotFormatException("migration stream", $"{count} disk files (at most {MaxBases})");
        }

        for (int n = 0; n < count; n++)
        {
            int disk = await ReadU16Async(input, cancel).ConfigureAwait(false);
            string path = await ReadPathAsync(input, cancel).ConfigureAwait(false);
            long size = await ReadI64Async(input, cancel).ConfigureAwait(false);
            var hash = new byte[32];
            await LiveMigration.ReadExactlyAsync(input, hash, "a disk's checksum", cancel).ConfigureAwait(false);
            backing.Check("migration stream", path);
            long here;
            byte[] ours;
            try
            {
                (here, ours) = Identify(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MigrationDiskException($"disk {disk}: {path} cannot be read on this node ({e.Message}); the target needs the source's base images at the same paths");
            }

            if (here != size)
            {
                throw new MigrationDiskException($"disk {disk}: {path} has {here} bytes on this node and {size} on the source: not the same image");
            }

            if (!hash.AsSpan().SequenceEqual(ours))
            {
                throw new MigrationDiskException($"disk {disk}: {path} differs from the source's in its first MiB: not the same image");
            }
        }
    }

    /// <summary>Sends the layers of each frozen disk that lie in <paramref name="layerDirectory"/>, top first; returns the bytes written.</summary>
    public static async Task<long> SendLayersAsync(IReadOnlyList<string> frozen, IReadOnlyList<BlockFormat> formats, string layerDirectory, Stream output, CancellationToken cancel)
    {
        var inLayers = BackingPolicy.Within([layerDirectory]);
        var sent = new HashSet<string>(StringComparer.Ordinal);
        long written = 0;
        for (int disk = 0; disk < frozen.Count; disk++)
        {
            string path = frozen[disk];
            var format = formats[disk];
            while (inLayers.Allows(path) && sent.Add(path))
            {
                written += await SendLayerAsync(disk, path, output, cancel).ConfigureAwait(false);
                if (format != BlockFormat.EmuCow)
                {
                    break;
                }

                var header = ReadHeader(path);
                (path, format) = (header.BackingPath, header.BackingFormat);
            }
        }

        return written;
    }

    private static async Task<long> SendLayerAsync(int disk, string path, Stream output, CancellationToken cancel)
    {
        using var handle = OpenUnlocked(path);
        long size = RandomAccess.GetLength(handle);
        using (var head = new MemoryStream())
        {
            head.WriteByte(Layer);
            WriteU16(head, disk);
            WritePath(head, path);
            WriteI64(head, size);
            WriteI64(head, File.GetLastWriteTimeUtc(path).Ticks);
            await output.WriteAsync(head.GetBuffer().AsMemory(0, (int)head.Length), cancel).ConfigureAwait(false);
            size += head.Length;
        }

        var buffer = new byte[1 << 20];
        for (long at = 0; ;)
        {
            int n = await RandomAccess.ReadAsync(handle, buffer, at, cancel).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            await output.WriteAsync(buffer.AsMemory(0, n), cancel).ConfigureAwait(false);
            at += n;
        }

        return size;
    }

    /// <summary>The layers a target has received, by the path they had on the source.</summary>
    public sealed class Moved(string layerDirectory, string machineId) : IDisposable
    {
        private readonly Dictionary<string, (string Path, long Ticks)> layers = new(StringComparer.Ordinal);
        private bool kept;

        /// <summary>Source path to the path here, for the snapshot's disks (SnapshotOptions.MovedDisks).</summary>
        public IReadOnlyDictionary<string, string> Paths => layers.ToDictionary(kv => kv.Key, kv => kv.Value.Path, StringComparer.Ordinal);

        /// <summary>Reads an 'L' record (its tag read) into a new file of the layer directory.</summary>
        public async Task ReceiveAsync(Stream input, CancellationToken cancel)
        {
            _ = await ReadU16Async(input, cancel).ConfigureAwait(false);
            string source = await ReadPathAsync(input, cancel).ConfigureAwait(false);
            long size = await ReadI64Async(input, cancel).ConfigureAwait(false);
            long ticks = await ReadI64Async(input, cancel).ConfigureAwait(false);
            if (size < CowHeader.Size || ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks || layers.ContainsKey(source))
            {
                throw new SnapshotFormatException("migration stream", $"a disk layer ({source}, {size} bytes) that no source sends");
            }

            string path = Path.Combine(layerDirectory, $"{machineId}-moved-{Guid.NewGuid():n}{CowHeader.Extension}");
            layers[source] = (path, ticks);
            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            var buffer = new byte[1 << 20];
            for (long left = size; left > 0;)
            {
                int n = (int)Math.Min(buffer.Length, left);
                await LiveMigration.ReadExactlyAsync(input, buffer.AsMemory(0, n), "a disk layer", cancel).ConfigureAwait(false);
                await file.WriteAsync(buffer.AsMemory(0, n), cancel).ConfigureAwait(false);
                left -= n;
            }
        }

        /// <summary>
        /// Points each moved overlay at the moved copy of the layer below it (the header's path; the
        /// size and time it records are the source's, which the copies keep), then gives every copy its
        /// source's modification time. A header that does not decode is the stream's damage.
        /// </summary>
        public void Settle()
        {
            foreach (var (_, (path, _)) in layers)
            {
                var h = new byte[CowHeader.Size];
                using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                    int got = file.ReadAtLeast(h, h.Length, throwOnEndOfStream: false);
                    CowHeader header;
                    try
                    {
                        header = CowHeader.Decode(path, h, got);
                    }
                    catch (BlockImageException e)
                    {
                        throw new SnapshotFormatException("migration stream", $"a disk layer: {e.Message}");
                    }

                    if (layers.TryGetValue(header.BackingPath, out var below))
                    {
                        (header with { BackingPath = below.Path }).Encode(h);
                        file.Position = 0;
                        file.Write(h);
                    }
                }
            }

            foreach (var (_, (path, ticks)) in layers)
            {
                File.SetLastWriteTimeUtc(path, new DateTime(ticks, DateTimeKind.Utc));
            }
        }

        /// <summary>The restored machine uses them: they stay.</summary>
        public void Keep() => kept = true;

        public void Dispose()
        {
            if (!kept)
            {
                foreach (var (_, (path, _)) in layers)
                {
                    File.Delete(path);
                }
            }
        }
    }

    private static CowHeader ReadHeader(string path)
    {
        using var handle = OpenUnlocked(path);
        var h = new byte[CowHeader.Size];
        int got = RandomAccess.Read(handle, h, 0);
        return CowHeader.Decode(path, h, got);
    }

    /// <summary>Size and the SHA-256 of the first MiB.</summary>
    private static (long Size, byte[] Hash) Identify(string path)
    {
        using var handle = OpenUnlocked(path);
        var head = new byte[(int)Math.Min(Checked, RandomAccess.GetLength(handle))];
        int got = 0;
        while (got < head.Length)
        {
            int n = RandomAccess.Read(handle, head.AsSpan(got), got);
            if (n == 0)
            {
                break;
            }

            got += n;
        }

        return (RandomAccess.GetLength(handle), SHA256.HashData(head.AsSpan(0, got)));
    }

    /// <summary>
    /// Opens a file for reading without the advisory lock FileStream takes: the source's own
    /// machine holds its writable disk files under an exclusive lock, and reading them here changes
    /// nothing of them. O_NONBLOCK, so a FIFO where a disk was expected does not hang the caller.
    /// </summary>
    private static SafeFileHandle OpenUnlocked(string path)
    {
        const int ReadOnly = 0, NonBlock = 0x800, CloseOnExec = 0x80000;
        int fd = open(path, ReadOnly | NonBlock | CloseOnExec);
        if (fd < 0)
        {
            throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (File.GetAttributes(path).HasFlag(FileAttributes.Directory))
        {
            handle.Dispose();
            throw new IOException($"{path} is a directory");
        }

        return handle;
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int open(string path, int flags);

    private static void WriteU16(Stream s, int value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)value);
        s.Write(b);
    }

    private static void WriteI64(Stream s, long value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, value);
        s.Write(b);
    }

    private static void WritePath(Stream s, string path)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path);
        WriteU16(s, bytes.Length);
        s.Write(bytes);
    }

    private static async Task<int> ReadU16Async(Stream input, CancellationToken cancel)
    {
        var b = new byte[2];
        await LiveMigration.ReadExactlyAsync(input, b, "a disk record", cancel).ConfigureAwait(false);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    private static async Task<long> ReadI64Async(Stream input, CancellationToken cancel)
    {
        var b = new byte[8];
        await LiveMigration.ReadExactlyAsync(input, b, "a disk record", cancel).ConfigureAwait(false);
        return BinaryPrimitives.ReadInt64LittleEndian(b);
    }

    private static async Task<string> ReadPathAsync(Stream input, CancellationToken cancel)
    {
        int length = await ReadU16Async(input, cancel).ConfigureAwait(false);
        if (length is 0 or > MaxPath)
        {
            throw new SnapshotFormatException("migration stream", $"a disk path of {length} bytes");
        }

        var bytes = new byte[length];
        await LiveMigration.ReadExactlyAsync(input, bytes, "a disk path", cancel).ConfigureAwait(false);
        return Encoding.UTF8.GetString(bytes);
    }
}

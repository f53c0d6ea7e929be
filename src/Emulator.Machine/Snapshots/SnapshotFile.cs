using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Emulator.Machine.Snapshots;

/// <summary>
/// The snapshot container (see RATIONALE.md): a header, then sections, then a trailer.
/// <code>
/// header   magic "EMUSNAP\0" (8) | format version u32 | flags u32 (0) | created, Unix ns i64
/// section  name length u8 | name (ASCII) | section version u32 | payload length u64 | payload
///          ... one per stateful part: "machine", "clock", "cpu/0", "device/uart0", "ram" ...
/// trailer  a section named "end" whose 32-byte payload is the SHA-256 of every byte before it
/// </code>
/// All integers little-endian. A reader checks magic, version and checksum before it interprets
/// any section, so a damaged file is refused as damaged rather than misread.
/// </summary>
public static class SnapshotFile
{
    public const int FormatVersion = 1;
    public const string EndSection = "end";

    /// <summary>
    /// The most sections a reader accepts: a machine has a few dozen (machine, clock, RAM, one per
    /// vCPU and device; 64 vCPUs give about 150), so more is a crafted file, refused before its
    /// section table grows without limit.
    /// </summary>
    public const int MaxSections = 4096;
    public static ReadOnlySpan<byte> Magic => "EMUSNAP\0"u8;
    internal const int HeaderSize = 24;
}

/// <summary>Writes a snapshot file section by section, hashing as it goes.</summary>
public sealed class SnapshotWriter : IDisposable
{
    private readonly Stream stream;
    private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private bool finished;

    public SnapshotWriter(Stream stream, DateTimeOffset created)
    {
        this.stream = stream;
        Span<byte> header = stackalloc byte[SnapshotFile.HeaderSize];
        SnapshotFile.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], SnapshotFile.FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], (created - DateTimeOffset.UnixEpoch).Ticks * 100);
        Put(header);
    }

    /// <summary>Bytes written so far.</summary>
    public long Length { get; private set; }

    /// <summary>Writes one section whose payload is already in memory.</summary>
    public void Section(string name, int version, ReadOnlySpan<byte> payload)
    {
        SectionHeader(name, version, (ulong)payload.Length);
        Put(payload);
    }

    /// <summary>Writes a section header for a payload that the caller then writes with <see cref="Payload"/> (exactly <paramref name="length"/> bytes).</summary>
    public void SectionHeader(string name, int version, ulong length)
    {
        if (finished)
        {
            throw new InvalidOperationException("the snapshot is already finished");
        }

        byte[] ascii = Encoding.ASCII.GetBytes(name);
        if (ascii.Length is 0 or > 255 || name == SnapshotFile.EndSection)
        {
            throw new ArgumentException($"bad section name '{name}'", nameof(name));
        }

        Span<byte> header = stackalloc byte[1 + 255 + 12];
        header[0] = (byte)ascii.Length;
        ascii.CopyTo(header[1..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[(1 + ascii.Length)..], version);
        BinaryPrimitives.WriteUInt64LittleEndian(header[(5 + ascii.Length)..], length);
        Put(header[..(13 + ascii.Length)]);
    }

    public void Payload(ReadOnlySpan<byte> bytes) => Put(bytes);

    /// <summary>Writes the checksum trailer and flushes to disk.</summary>
    public void Finish()
    {
        byte[] end = Encoding.ASCII.GetBytes(SnapshotFile.EndSection);
        Span<byte> header = stackalloc byte[1 + 3 + 12];
        header[0] = (byte)end.Length;
        end.CopyTo(header[1..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], 32);
        Put(header);
        byte[] digest = hash.GetHashAndReset();
        stream.Write(digest);
        Length += digest.Length;
        finished = true;
        stream.Flush();
        if (stream is FileStream f)
        {
            f.Flush(flushToDisk: true);
        }
    }

    public void Dispose() => hash.Dispose();

    private void Put(ReadOnlySpan<byte> bytes)
    {
        hash.AppendData(bytes);
        stream.Write(bytes);
        Length += bytes.Length;
    }
}

/// <summary>A section as read: its name, version, and where its payload is in the file.</summary>
public readonly record struct SnapshotSection(string Name, int Version, long Offset, long Length);

/// <summary>
/// Reads a snapshot file: <see cref="Open"/> checks the header, walks the section table and
/// verifies the checksum over the whole file before anything is interpreted.
/// </summary>
public sealed class SnapshotReader : IDisposable
{
    private readonly FileStream file;

    private SnapshotReader(string path, FileStream file, DateTimeOffset created, List<SnapshotSection> sections)
    {
        Path = path;
        this.file = file;
        Created = created;
        Sections = sections;
    }

    public string Path { get; }

    public DateTimeOffset Created { get; }

    public IReadOnlyList<SnapshotSection> Sections { get; }

    public long FileLength => file.Length;

    /// <summary>Opens and verifies <paramref name="path"/>; throws <see cref="SnapshotFormatException"/> if it is not a sound snapshot of a format this build reads.</summary>
    public static SnapshotReader Open(string path)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SnapshotFormatException(path, $"cannot open the snapshot: {e.Message}", e);
        }

        try
        {
            var (created, sections) = Verify(path, file);
            return new SnapshotReader(path, file, created, sections);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the header and the first section only, without verifying the checksum: cheap, for
    /// listings. Throws <see cref="SnapshotFormatException"/> if even that much is not sound.
    /// </summary>
    public static (DateTimeOffset Created, SnapshotSection First, byte[] Payload) ReadFirstSection(string path, int maxPayload = 1 << 20)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = file.Length;
        Span<byte> header = stackalloc byte[SnapshotFile.HeaderSize + 1];
        if (!ReadExactly(file, header, 0, length) || !header[..8].SequenceEqual(SnapshotFile.Magic))
        {
            throw new SnapshotFormatException(path, "not an emulator snapshot (bad magic, or shorter than the header)");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version != SnapshotFile.FormatVersion)
        {
            throw new SnapshotFormatException(path, $"snapshot format version {version} is not the one this emulator reads ({SnapshotFile.FormatVersion})");
        }

        int nameLength = header[SnapshotFile.HeaderSize];
        var rest = new byte[nameLength + 12];
        if (nameLength == 0 || !ReadExactly(file, rest, SnapshotFile.HeaderSize + 1, length))
        {
            throw new SnapshotFormatException(path, "truncated or corrupted: no first section");
        }

        ulong payloadLength = BinaryPrimitives.ReadUInt64LittleEndian(rest.AsSpan(nameLength + 4));
        long at = SnapshotFile.HeaderSize + 1 + nameLength + 12;
        if (payloadLength > (ulong)maxPayload)
        {
            throw new SnapshotFormatException(path, "truncated or corrupted: the first section is cut off or too large");
        }

        var payload = new byte[payloadLength];
        if (!ReadExactly(file, payload, at, length))
        {
            throw new SnapshotFormatException(path, "truncated: the first section is cut off");
        }

        var created = DateTimeOffset.UnixEpoch.AddTicks(BinaryPrimitives.ReadInt64LittleEndian(header[16..]) / 100);
        var section = new SnapshotSection(Encoding.ASCII.GetString(rest, 0, nameLength), BinaryPrimitives.ReadInt32LittleEndian(rest.AsSpan(nameLength)), at, (long)payloadLength);
        return (created, section, payload);
    }

    /// <summary>The one section named <paramref name="name"/>.</summary>
    public SnapshotSection Get(string name) =>
        Sections.FirstOrDefault(s => s.Name == name) is { Name: not null } s ? s : throw Fail($"the section '{name}' is missing");

    /// <summary>The most a section read whole may hold: every such section (machine, clock, vCPU, device) is a few KiB.</summary>
    public const int MaxSmallSection = 1 << 20;

    /// <summary>A section's payload, read into memory (for the small ones; a larger one is refused before it is allocated).</summary>
    public byte[] ReadAll(SnapshotSection section)
    {
        if (section.Length > MaxSmallSection)
        {
            throw Fail($"section '{section.Name}' holds {section.Length} bytes, more than the {MaxSmallSection} such a section may");
        }

        var bytes = new byte[section.Length];
        RandomAccess.Read(file.SafeFileHandle, bytes, section.Offset);
        return bytes;
    }

    /// <summary>A stream over one section's payload.</summary>
    public Stream OpenSection(SnapshotSection section) => new SectionStream(file.SafeFileHandle, section.Offset, section.Length);

    public SnapshotFormatException Fail(string reason, Exception? inner = null) => new(Path, reason, inner);

    public void Dispose() => file.Dispose();

    private static (DateTimeOffset Created, List<SnapshotSection> Sections) Verify(string path, FileStream file)
    {
        SnapshotFormatException Bad(string reason) => new(path, reason);
        long length = file.Length;
        Span<byte> header = stackalloc byte[SnapshotFile.HeaderSize];
        int got = (int)Math.Min(length, header.Length);
        ReadExactly(file, header[..got], 0, length);
        if (got < 8 || !header[..8].SequenceEqual(SnapshotFile.Magic))
        {
            throw Bad("not an emulator snapshot (bad magic)");
        }

        if (got < SnapshotFile.HeaderSize)
        {
            throw Bad($"truncated: {length} bytes, shorter than the header");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (version != SnapshotFile.FormatVersion)
        {
            throw Bad(version > SnapshotFile.FormatVersion
                ? $"snapshot format version {version} is newer than this emulator reads ({SnapshotFile.FormatVersion})"
                : $"snapshot format version {version} is not supported (this emulator reads {SnapshotFile.FormatVersion})");
        }

        var created = DateTimeOffset.UnixEpoch.AddTicks(BinaryPrimitives.ReadInt64LittleEndian(header[16..]) / 100);
        var sections = new List<SnapshotSection>();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(header);
        long at = SnapshotFile.HeaderSize;
        var buffer = new byte[1 << 20];
        var sectionHeader = new byte[1 + 255 + 12];
        while (true)
        {
            if (at >= length)
            {
                throw Bad($"truncated: the file ends at byte {length} without its checksum trailer");
            }

            int nameLength = ReadExactly(file, sectionHeader.AsSpan(0, 1), at, length) ? sectionHeader[0] : throw Bad($"truncated at byte {at}");
            if (nameLength == 0 || !ReadExactly(file, sectionHeader.AsSpan(1, nameLength + 12), at + 1, length))
            {
                throw Bad(nameLength == 0 ? $"corrupted: empty section name at byte {at}" : $"truncated: section header at byte {at} is cut off");
            }

            string name = Encoding.ASCII.GetString(sectionHeader, 1, nameLength);
            int sectionVersion = BinaryPrimitives.ReadInt32LittleEndian(sectionHeader.AsSpan(1 + nameLength));
            ulong payloadLength = BinaryPrimitives.ReadUInt64LittleEndian(sectionHeader.AsSpan(5 + nameLength));
            long payloadAt = at + 13 + nameLength;
            if (payloadLength > (ulong)(length - payloadAt))
            {
                throw Bad($"truncated: section '{name}' at byte {at} declares {payloadLength} bytes but only {length - payloadAt} remain");
            }

            hash.AppendData(sectionHeader, 0, 13 + nameLength);
            if (name == SnapshotFile.EndSection)
            {
                if (payloadLength != 32 || payloadAt + 32 != length)
                {
                    throw Bad("corrupted: the checksum trailer is malformed or not at the end of the file");
                }

                Span<byte> stored = stackalloc byte[32];
                ReadExactly(file, stored, payloadAt, length);
                if (!hash.GetHashAndReset().AsSpan().SequenceEqual(stored))
                {
                    throw Bad("corrupted: checksum mismatch (the file was damaged after it was written)");
                }

                return (created, sections);
            }

            for (long done = 0; done < (long)payloadLength;)
            {
                int n = (int)Math.Min(buffer.Length, (long)payloadLength - done);
                ReadExactly(file, buffer.AsSpan(0, n), payloadAt + done, length);
                hash.AppendData(buffer, 0, n);
                done += n;
            }

            if (sections.Count == SnapshotFile.MaxSections)
            {
                throw Bad($"corrupted: more than {SnapshotFile.MaxSections} sections");
            }

            sections.Add(new SnapshotSection(name, sectionVersion, payloadAt, (long)payloadLength));
            at = payloadAt + (long)payloadLength;
        }
    }

    private static bool ReadExactly(FileStream file, Span<byte> into, long offset, long length)
    {
        if (offset + into.Length > length)
        {
            return false;
        }

        int done = 0;
        while (done < into.Length)
        {
            int n = RandomAccess.Read(file.SafeFileHandle, into[done..], offset + done);
            if (n == 0)
            {
                return false;
            }

            done += n;
        }

        return true;
    }

    /// <summary>A read-only window onto one section's payload.</summary>
    private sealed class SectionStream(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long start, long length) : Stream
    {
        private long position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - position);
            if (n <= 0)
            {
                return 0;
            }

            n = RandomAccess.Read(handle, buffer[..n], start + position);
            position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

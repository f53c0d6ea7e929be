using System.Buffers.Binary;
using System.Text;

namespace Emulator.Machine.Acpi;

/// <summary>
/// The System Description Table header (ACPI 6.0, 5.2.6) shared by every table but the RSDP and
/// FACS, and the byte-sum checksum rule: all bytes of a table add up to zero modulo 256.
/// </summary>
public static class AcpiTable
{
    public const int HeaderLength = 36;

    // Header field offsets.
    public const int SignatureOffset = 0, LengthOffset = 4, RevisionOffset = 8, ChecksumOffset = 9, OemIdOffset = 10,
        OemTableIdOffset = 16, OemRevisionOffset = 24, CreatorIdOffset = 28, CreatorRevisionOffset = 32;

    /// <summary>OEM identification written into every table (6 and 8 characters, space padded).</summary>
    public const string OemId = "EMUPC ", OemTableId = "EMUMVM  ", CreatorId = "EMUL";

    /// <summary>A complete table: header for <paramref name="signature"/> and <paramref name="revision"/>, then <paramref name="body"/>, checksummed.</summary>
    public static byte[] Build(string signature, byte revision, ReadOnlySpan<byte> body)
    {
        var table = new byte[HeaderLength + body.Length];
        Encoding.ASCII.GetBytes(signature).CopyTo(table, SignatureOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(LengthOffset), (uint)table.Length);
        table[RevisionOffset] = revision;
        Encoding.ASCII.GetBytes(OemId).CopyTo(table, OemIdOffset);
        Encoding.ASCII.GetBytes(OemTableId).CopyTo(table, OemTableIdOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(OemRevisionOffset), 1);
        Encoding.ASCII.GetBytes(CreatorId).CopyTo(table, CreatorIdOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(CreatorRevisionOffset), 1);
        body.CopyTo(table.AsSpan(HeaderLength));
        table[ChecksumOffset] = Checksum(table);
        return table;
    }

    /// <summary>The byte that makes <paramref name="bytes"/> sum to zero, computed with the checksum byte itself taken as zero.</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes, int checksumOffset = ChecksumOffset)
    {
        int sum = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (i != checksumOffset)
            {
                sum += bytes[i];
            }
        }

        return (byte)-sum;
    }

    /// <summary>Sum of all bytes modulo 256 (zero for a valid table).</summary>
    public static byte Sum(ReadOnlySpan<byte> bytes)
    {
        int sum = 0;
        foreach (byte b in bytes)
        {
            sum += b;
        }

        return (byte)sum;
    }
}

/// <summary>Generic Address Structure (ACPI 6.0, 5.2.3.2), 12 bytes.</summary>
public readonly record struct GenericAddress(byte SpaceId, byte BitWidth, byte BitOffset, byte AccessSize, ulong Address)
{
    public const byte SystemMemory = 0, SystemIo = 1;

    /// <summary>Access sizes: 1 byte, 2 (word), 3 (dword), 4 (qword).</summary>
    public const byte AccessByte = 1, AccessWord = 2, AccessDword = 3;

    public static GenericAddress Io(ushort port, int bytes, byte accessSize) => new(SystemIo, (byte)(bytes * 8), 0, accessSize, port);

    public void WriteTo(Span<byte> dest)
    {
        dest[0] = SpaceId;
        dest[1] = BitWidth;
        dest[2] = BitOffset;
        dest[3] = AccessSize;
        BinaryPrimitives.WriteUInt64LittleEndian(dest[4..], Address);
    }
}

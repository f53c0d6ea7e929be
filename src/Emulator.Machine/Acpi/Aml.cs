using System.Text;

namespace Emulator.Machine.Acpi;

/// <summary>
/// A small AML encoder (ACPI 6.0, chapter 20 "ACPI Machine Language Specification"): the
/// namespace modifiers and named objects a static DSDT needs (Scope, Device, Name) and data
/// objects (integers, strings, packages, buffers). Each method returns the encoded term; terms
/// are plain byte arrays, concatenated by the enclosing object.
/// </summary>
public static class Aml
{
    // Opcodes (ACPI 6.0, 20.2.5 "Term Objects Encoding" and 20.2.3 "Data Objects Encoding").
    public const byte ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08, BytePrefix = 0x0a, WordPrefix = 0x0b,
        DWordPrefix = 0x0c, StringPrefix = 0x0d, QWordPrefix = 0x0e, ScopeOp = 0x10, BufferOp = 0x11,
        PackageOp = 0x12, ExtOpPrefix = 0x5b, DeviceOp = 0x82, RootChar = 0x5c, ParentPrefixChar = 0x5e,
        DualNamePrefix = 0x2e, MultiNamePrefix = 0x2f;

    /// <summary>An integer in its shortest form (ZeroOp, OneOp, then byte, word, dword, qword constants).</summary>
    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        <= 0xff => [BytePrefix, (byte)value],
        <= 0xffff => [WordPrefix, (byte)value, (byte)(value >> 8)],
        <= 0xffff_ffff => [DWordPrefix, (byte)value, (byte)(value >> 8), (byte)(value >> 16), (byte)(value >> 24)],
        _ => [QWordPrefix, .. BitConverter.GetBytes(value)],
    };

    /// <summary>A String: StringPrefix, ASCII characters 0x01-0x7F, NUL (20.2.3).</summary>
    public static byte[] String(string s)
    {
        foreach (char c in s)
        {
            if (c is < (char)1 or > (char)0x7f)
            {
                throw new ArgumentException($"AML strings are ASCII without NUL; '{s}' is not", nameof(s));
            }
        }

        return [StringPrefix, .. Encoding.ASCII.GetBytes(s), 0];
    }

    /// <summary>
    /// A compressed EISA ID as ASL's EISAID() makes it (ACPI 6.0, 6.1.5 "_HID"): three letters of
    /// five bits each and four hex digits, stored big-endian in a DWORD constant.
    /// </summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(c => c is >= 'A' and <= 'Z') || !id[3..].All(Uri.IsHexDigit))
        {
            throw new ArgumentException($"an EISA ID is three capital letters and four hex digits, not '{id}'", nameof(id));
        }

        uint vendor = (uint)(((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40));
        uint product = Convert.ToUInt32(id[3..], 16);
        uint bigEndian = (vendor << 16) | product;
        return Integer(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(bigEndian));
    }

    /// <summary>Name(name, value): NameOp NameString DataRefObject.</summary>
    public static byte[] Name(string name, byte[] value) => [NameOp, .. NameString(name), .. value];

    /// <summary>Scope(name) { terms }: ScopeOp PkgLength NameString TermList.</summary>
    public static byte[] Scope(string name, params byte[][] terms) => [ScopeOp, .. WithPkgLength([.. NameString(name), .. Concat(terms)])];

    /// <summary>Device(name) { terms }: ExtOpPrefix DeviceOp PkgLength NameString TermList.</summary>
    public static byte[] Device(string name, params byte[][] terms) =>
        [ExtOpPrefix, DeviceOp, .. WithPkgLength([.. NameString(name), .. Concat(terms)])];

    /// <summary>Package(n) { elements }: PackageOp PkgLength NumElements PackageElementList.</summary>
    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255)
        {
            throw new ArgumentException("a Package holds at most 255 elements (use VarPackage)", nameof(elements));
        }

        return [PackageOp, .. WithPkgLength([(byte)elements.Length, .. Concat(elements)])];
    }

    /// <summary>Buffer(n) { bytes }: BufferOp PkgLength BufferSize ByteList.</summary>
    public static byte[] Buffer(ReadOnlySpan<byte> bytes) => [BufferOp, .. WithPkgLength([.. Integer((ulong)bytes.Length), .. bytes])];

    /// <summary>
    /// A NameString (20.2.2): an optional root ('\') or parent ('^') prefix, then one NameSeg,
    /// a DualNamePath or a MultiNamePath. Segments shorter than four characters are padded with '_'.
    /// </summary>
    public static byte[] NameString(string path)
    {
        var prefix = new List<byte>();
        int i = 0;
        if (path.StartsWith('\\'))
        {
            prefix.Add(RootChar);
            i = 1;
        }
        else
        {
            while (i < path.Length && path[i] == '^')
            {
                prefix.Add(ParentPrefixChar);
                i++;
            }
        }

        string rest = path[i..];
        string[] segs = rest.Length == 0 ? [] : rest.Split('.');
        var body = new List<byte>();
        switch (segs.Length)
        {
            case 0:
                body.Add(0); // NullName
                break;
            case 1:
                break;
            case 2:
                body.Add(DualNamePrefix);
                break;
            default:
                if (segs.Length > 255)
                {
                    throw new ArgumentException($"name path '{path}' has too many segments", nameof(path));
                }

                body.Add(MultiNamePrefix);
                body.Add((byte)segs.Length);
                break;
        }

        foreach (string seg in segs)
        {
            body.AddRange(NameSeg(seg));
        }

        return [.. prefix, .. body];
    }

    /// <summary>A NameSeg: a lead character (A-Z or '_') and three name characters (A-Z, 0-9, '_').</summary>
    public static byte[] NameSeg(string seg)
    {
        bool ok = seg.Length is >= 1 and <= 4 && (seg[0] is >= 'A' and <= 'Z' or '_')
            && seg.All(c => c is >= 'A' and <= 'Z' or >= '0' and <= '9' or '_');
        if (!ok)
        {
            throw new ArgumentException($"'{seg}' is not an AML name segment", nameof(seg));
        }

        return Encoding.ASCII.GetBytes(seg.PadRight(4, '_'));
    }

    /// <summary>
    /// Prefixes <paramref name="content"/> with its PkgLength (20.2.4): the length counts the
    /// PkgLength bytes themselves; one byte holds up to 63, otherwise bits 7-6 of the lead byte
    /// give the number of following bytes, its low nibble the low four bits of the length.
    /// </summary>
    public static byte[] WithPkgLength(ReadOnlySpan<byte> content)
    {
        int n = content.Length;
        byte[] head;
        if (n + 1 <= 0x3f)
        {
            head = [(byte)(n + 1)];
        }
        else if (n + 2 < 1 << 12)
        {
            int len = n + 2;
            head = [(byte)(0x40 | (len & 0xf)), (byte)(len >> 4)];
        }
        else if (n + 3 < 1 << 20)
        {
            int len = n + 3;
            head = [(byte)(0x80 | (len & 0xf)), (byte)(len >> 4), (byte)(len >> 12)];
        }
        else if (n + 4 < 1 << 28)
        {
            int len = n + 4;
            head = [(byte)(0xc0 | (len & 0xf)), (byte)(len >> 4), (byte)(len >> 12), (byte)(len >> 20)];
        }
        else
        {
            throw new ArgumentException("an AML package is limited to 2^28 bytes", nameof(content));
        }

        return [.. head, .. content];
    }

    public static byte[] Concat(IEnumerable<byte[]> parts) => parts.SelectMany(p => p).ToArray();
}

using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Emulator.Wasm.Decoding;

/// <summary>
/// Reads the primitive encodings of the binary format (spec 5.2): LEB128 integers, floats, names.
/// A struct over the module bytes so the validator and compiler can re-read code without allocating.
/// </summary>
internal struct WasmReader
{
    private readonly byte[] _bytes;
    private int _end;

    public int Position;
    public string Section;

    public WasmReader(byte[] bytes, int start, int end, string section)
    {
        _bytes = bytes;
        Position = start;
        _end = end;
        Section = section;
    }

    public readonly int End => _end;
    public readonly bool AtEnd => Position >= _end;
    public readonly byte[] Bytes => _bytes;

    public void SetEnd(int end) => _end = end;

    [DoesNotReturn]
    public readonly void Fail(string reason) => throw new WasmModuleException(ModuleErrorKind.Malformed, Section, Position, reason);

    [DoesNotReturn]
    public readonly void Invalid(string reason) => throw new WasmModuleException(ModuleErrorKind.Invalid, Section, Position, reason);

    public byte ReadByte()
    {
        if (Position >= _end) Fail(Position >= _bytes.Length ? "unexpected end" : "unexpected end of section or function");
        return _bytes[Position++];
    }

    public byte PeekByte()
    {
        if (Position >= _end) Fail("unexpected end");
        return _bytes[Position];
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || count > _end - Position) Fail(_end >= _bytes.Length ? "unexpected end" : "unexpected end of section or function");
        var span = new ReadOnlySpan<byte>(_bytes, Position, count);
        Position += count;
        return span;
    }

    public uint ReadU32() => (uint)ReadUnsigned(32);

    public ulong ReadU64() => ReadUnsigned(64);

    /// <summary>A u32 used as a count or index: must fit an int for our tables.</summary>
    public int ReadIndex()
    {
        uint v = ReadU32();
        if (v > int.MaxValue) Fail("integer too large");
        return (int)v;
    }

    private ulong ReadUnsigned(int bits)
    {
        ulong result = 0;
        int shift = 0;
        while (true)
        {
            byte b = ReadByte();
            int remaining = bits - shift;
            if (remaining < 7)
            {
                // Last permitted byte: the unused high bits must be zero (spec 5.2.2).
                if ((b & 0x80) != 0) Fail("integer representation too long");
                if ((b >> remaining) != 0) Fail("integer too large");
                return result | ((ulong)b << shift);
            }
            result |= (ulong)(b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0) return result;
            if (shift == bits) Fail("integer representation too long");
        }
    }

    public int ReadS32() => (int)ReadSigned(32);

    public long ReadS64() => ReadSigned(64);

    /// <summary>The s33 block type index (spec 5.4.1).</summary>
    public long ReadS33() => ReadSigned(33);

    private long ReadSigned(int bits)
    {
        long result = 0;
        int shift = 0;
        while (true)
        {
            byte b = ReadByte();
            int remaining = bits - shift;
            if (remaining < 7)
            {
                if ((b & 0x80) != 0) Fail("integer representation too long");
                // The unused bits must all equal the sign bit (spec 5.2.2).
                int top = (b & 0x7F) >> (remaining - 1);
                int allOnes = (0x7F >> (remaining - 1));
                if (top != 0 && top != allOnes) Fail("integer too large");
                result |= (long)(b & 0x7F) << shift;
                if (64 - (shift + 7) > 0) result = result << (64 - shift - 7) >> (64 - shift - 7);
                return result;
            }
            result |= (long)(b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                if (shift < 64 && (b & 0x40) != 0) result |= -1L << shift;
                return result;
            }
            if (shift == bits) Fail("integer representation too long");
        }
    }

    public uint ReadF32Bits() => BitConverter.ToUInt32(ReadBytes(4));

    public ulong ReadF64Bits() => BitConverter.ToUInt64(ReadBytes(8));

    private static readonly UTF8Encoding s_strictUtf8 = new(false, true);

    public string ReadName()
    {
        int length = ReadIndex();
        var span = ReadBytes(length);
        try
        {
            return s_strictUtf8.GetString(span);
        }
        catch (ArgumentException)
        {
            Fail("malformed UTF-8 encoding");
            return "";
        }
    }
}

using System.Buffers.Binary;
using System.Text;

namespace Emulator.Devices.Virtio9p;

/// <summary>
/// Reads the fields of one 9P message (little-endian integers; strings as a 2-byte length and
/// that many bytes of UTF-8). Every read is bounds-checked against the message's size: a field
/// past the end throws <see cref="P9FormatException"/>, which the server answers with Rlerror.
/// </summary>
public ref struct P9Reader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly ReadOnlySpan<byte> message;
    private int position;

    /// <param name="message">The whole message, header included; its size field is not trusted (the framing was checked before).</param>
    public P9Reader(ReadOnlySpan<byte> message)
    {
        this.message = message;
        position = 0;
    }

    public int Remaining => message.Length - position;

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    /// <summary>A string; bytes that are not UTF-8 are refused (EILSEQ): names are passed to the host as UTF-8.</summary>
    public string Str()
    {
        var bytes = Take(U16());
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new P9FormatException("a string is not UTF-8", P9Errno.EILSEQ);
        }
    }

    /// <summary>The next <paramref name="count"/> bytes (Twrite's data).</summary>
    public ReadOnlySpan<byte> Bytes(uint count) => count > (uint)Remaining
        ? throw new P9FormatException($"{count} bytes of data, {Remaining} left in the message")
        : Take((int)count);

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > Remaining)
        {
            throw new P9FormatException($"a field of {count} bytes at offset {position} runs past the end of a {message.Length}-byte message");
        }

        var span = message.Slice(position, count);
        position += count;
        return span;
    }
}

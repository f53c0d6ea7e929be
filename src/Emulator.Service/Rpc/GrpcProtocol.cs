using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Google.Protobuf;

namespace Emulator.Service.Rpc;

/// <summary>
/// The gRPC over HTTP/2 wire format (grpc/doc/PROTOCOL-HTTP2.md): message framing,
/// grpc-timeout and the percent-encoded grpc-message. Shared by the server and the client.
/// </summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";

    /// <summary>Length-Prefixed-Message: Compressed-Flag (1 byte), Message-Length (4 bytes, big-endian).</summary>
    public const int FrameHeaderSize = 5;

    /// <summary>gRPC's default limit on a received message.</summary>
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>True for "application/grpc" and "application/grpc+proto" (parameters allowed).</summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
            return false;
        ReadOnlySpan<char> rest = contentType.AsSpan(ContentType.Length);
        int semicolon = rest.IndexOf(';');
        if (semicolon >= 0)
            rest = rest[..semicolon];
        rest = rest.Trim();
        return rest.IsEmpty || rest.Equals("+proto", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Appends one uncompressed framed message.</summary>
    public static void WriteFrame(IBufferWriter<byte> writer, IMessage message)
    {
        int size = message.CalculateSize();
        Span<byte> header = writer.GetSpan(FrameHeaderSize);
        header[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
        writer.Advance(FrameHeaderSize);
        message.WriteTo(writer);
    }

    public static byte[] Frame(IMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(FrameHeaderSize + message.CalculateSize());
        WriteFrame(buffer, message);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads the frame header at the start of <paramref name="buffer"/>.</summary>
    /// <returns>False when fewer than five bytes are buffered.</returns>
    public static bool TryReadFrameHeader(in ReadOnlySequence<byte> buffer, out bool compressed, out uint length)
    {
        compressed = false;
        length = 0;
        if (buffer.Length < FrameHeaderSize)
            return false;
        Span<byte> header = stackalloc byte[FrameHeaderSize];
        buffer.Slice(0, FrameHeaderSize).CopyTo(header);
        compressed = header[0] != 0;
        length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        return true;
    }

    /// <summary>
    /// Parses grpc-timeout: at most 8 ASCII digits and a unit, H (hours), M (minutes),
    /// S (seconds), m (milliseconds), u (microseconds) or n (nanoseconds).
    /// </summary>
    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is null || value.Length < 2 || value.Length > 9)
            return false;
        ReadOnlySpan<char> digits = value.AsSpan(0, value.Length - 1);
        foreach (char c in digits)
        {
            if (c is < '0' or > '9')
                return false;
        }
        long amount = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        long ticks = value[^1] switch
        {
            'H' => amount * TimeSpan.TicksPerHour,
            'M' => amount * TimeSpan.TicksPerMinute,
            'S' => amount * TimeSpan.TicksPerSecond,
            'm' => amount * TimeSpan.TicksPerMillisecond,
            'u' => amount * TimeSpan.TicksPerMicrosecond,
            'n' => amount / 100, // a tick is 100 ns
            _ => -1,
        };
        if (ticks < 0)
            return false;
        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>Formats a timeout in the finest unit that fits in 8 digits.</summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        long ticks = Math.Max(0, timeout.Ticks);
        const long MaxAmount = 99_999_999;
        if (ticks <= MaxAmount / 100)
            return (ticks * 100).ToString(CultureInfo.InvariantCulture) + "n";
        if (ticks / TimeSpan.TicksPerMicrosecond <= MaxAmount)
            return (ticks / TimeSpan.TicksPerMicrosecond).ToString(CultureInfo.InvariantCulture) + "u";
        if (ticks / TimeSpan.TicksPerMillisecond <= MaxAmount)
            return (ticks / TimeSpan.TicksPerMillisecond).ToString(CultureInfo.InvariantCulture) + "m";
        if (ticks / TimeSpan.TicksPerSecond <= MaxAmount)
            return (ticks / TimeSpan.TicksPerSecond).ToString(CultureInfo.InvariantCulture) + "S";
        if (ticks / TimeSpan.TicksPerMinute <= MaxAmount)
            return (ticks / TimeSpan.TicksPerMinute).ToString(CultureInfo.InvariantCulture) + "M";
        return Math.Min(ticks / TimeSpan.TicksPerHour, MaxAmount).ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <summary>
    /// grpc-message: the UTF-8 bytes, with every byte outside 0x20-0x7E and '%' itself
    /// written as %XX.
    /// </summary>
    public static string EncodeMessage(string message)
    {
        var builder = new StringBuilder(message.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E and not (byte)'%')
                builder.Append((char)b);
            else
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    /// <summary>Decodes grpc-message; a malformed %XX is kept as it is, as the spec asks.</summary>
    public static string DecodeMessage(string? encoded)
    {
        if (string.IsNullOrEmpty(encoded))
            return "";
        if (!encoded.Contains('%'))
            return encoded;
        var bytes = new List<byte>(encoded.Length);
        for (int i = 0; i < encoded.Length; i++)
        {
            if (encoded[i] == '%' && i + 2 < encoded.Length &&
                byte.TryParse(encoded.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte value))
            {
                bytes.Add(value);
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(encoded[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

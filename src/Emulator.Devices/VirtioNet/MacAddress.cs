using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Emulator.Devices.VirtioNet;

/// <summary>An Ethernet MAC address (6 bytes), written as 52:54:00:12:34:56.</summary>
public readonly record struct MacAddress
{
    private readonly ulong value;

    private MacAddress(ulong value) => this.value = value & 0xFFFF_FFFF_FFFFUL;

    public static MacAddress FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != 6)
        {
            throw new ArgumentException($"a MAC address has 6 bytes, not {bytes.Length}");
        }

        ulong v = 0;
        foreach (byte b in bytes)
        {
            v = v << 8 | b;
        }

        return new MacAddress(v);
    }

    /// <summary>
    /// The address a machine gets when none is given: QEMU's locally administered prefix
    /// 52:54:00 and three bytes of a hash of <paramref name="seed"/> (the machine's name and the
    /// interface's), so the same machine keeps its address from run to run.
    /// </summary>
    public static MacAddress Derive(string seed)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(seed));
        return FromBytes([0x52, 0x54, 0x00, hash[0], hash[1], hash[2]]);
    }

    /// <summary>Parses six hex pairs separated by ':' (or '-'); a multicast address (bit 0 of the first byte) is refused, since no NIC has one.</summary>
    public static bool TryParse(string text, out MacAddress mac, out string? error)
    {
        mac = default;
        string[] parts = text.Split(text.Contains('-') ? '-' : ':');
        Span<byte> bytes = stackalloc byte[6];
        if (parts.Length != 6)
        {
            error = $"'{text}' is not a MAC address (six hex pairs such as 52:54:00:12:34:56)";
            return false;
        }

        for (int i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bytes[i]))
            {
                error = $"'{text}' is not a MAC address (six hex pairs such as 52:54:00:12:34:56)";
                return false;
            }
        }

        if ((bytes[0] & 1) != 0)
        {
            error = $"{text} is a multicast address; a network interface needs a unicast one (first byte even)";
            return false;
        }

        mac = FromBytes(bytes);
        error = null;
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var mac, out string? error) ? mac : throw new FormatException(error);

    public byte this[int index] => (byte)(value >> (8 * (5 - index)));

    public byte[] ToBytes() => [this[0], this[1], this[2], this[3], this[4], this[5]];

    public ulong ToUInt64() => value;

    public static MacAddress FromUInt64(ulong v) => new(v);

    public override string ToString() => string.Join(':', ToBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
}

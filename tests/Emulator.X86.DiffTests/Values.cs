namespace Emulator.X86.DiffTests;

/// <summary>Random operand values biased towards the edges where arithmetic goes wrong.</summary>
public static class Values
{
    private static readonly ulong[] IntEdges =
    [
        0, 1, 2, ulong.MaxValue, ulong.MaxValue - 1,
        0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
        0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000,
        0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000,
        0xffff_ffff_ffff_ff80, 0xffff_ffff_ffff_8000, 0xffff_ffff_8000_0000,
    ];

    /// <summary>A 64-bit register value: an edge, a small number, a sign-extended narrow value, or random bits.</summary>
    public static ulong Gpr(Rng r) => r.Below(10) switch
    {
        0 or 1 => r.Pick(IntEdges),
        2 => (ulong)r.Range(0, 16),
        3 => (ulong)(long)-r.Range(1, 16),
        4 => (ulong)(long)(sbyte)r.Next(),
        5 => (ulong)(long)(short)r.Next(),
        6 => (ulong)(long)(int)r.Next(),
        7 => (r.Next() & 0xffff_ffff_0000_0000) | r.Pick(IntEdges) & 0xffff_ffff,
        _ => r.Next(),
    };

    /// <summary>A random value that fits an immediate of <paramref name="bits"/> bits, sign-extended to 64 bits.</summary>
    public static long SignedImm(Rng r, int bits)
    {
        long v = r.Below(4) switch
        {
            0 => r.Pick(new long[] { 0, 1, -1, 2, long.MinValue, long.MaxValue }),
            1 => r.Range(-8, 8),
            _ => (long)r.Next(),
        };
        int shift = 64 - bits;
        return v << shift >> shift;
    }

    private static readonly uint[] FloatEdges =
    [
        0x0000_0000, 0x8000_0000, // +-0
        0x7f80_0000, 0xff80_0000, // +-inf
        0x7fc0_0000, 0xffc0_0000, 0x7fc1_2345, // QNaN
        0x7f80_0001, 0xffa0_0000, 0x7fbf_ffff, // SNaN
        0x0000_0001, 0x8000_0001, 0x007f_ffff, 0x0040_0000, // denormals
        0x0080_0000, 0x7f7f_ffff, 0xff7f_ffff, // min/max normal
        0x3f80_0000, 0xbf80_0000, 0x3f00_0000, 0xbf00_0000, 0x3fc0_0000, 0x4020_0000, // 1, -1, .5, -.5, 1.5, 2.5
        0x4f00_0000, 0xcf00_0000, 0x5f00_0000, 0xdf00_0000, 0x4effffff, // 2^31, -2^31, 2^63, -2^63, just below 2^31
    ];

    private static readonly ulong[] DoubleEdges =
    [
        0, 0x8000_0000_0000_0000, // +-0
        0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000, // +-inf
        0x7ff8_0000_0000_0000, 0xfff8_0000_0000_0000, 0x7ff8_0000_1234_5678, // QNaN
        0x7ff0_0000_0000_0001, 0xfff4_0000_0000_0000, 0x7ff7_ffff_ffff_ffff, // SNaN
        1, 0x8000_0000_0000_0001, 0x000f_ffff_ffff_ffff, // denormals
        0x0010_0000_0000_0000, 0x7fef_ffff_ffff_ffff, // min/max normal
        0x3ff0_0000_0000_0000, 0xbff0_0000_0000_0000, 0x3fe0_0000_0000_0000, 0xbfe0_0000_0000_0000,
        0x3ff8_0000_0000_0000, 0x4004_0000_0000_0000, // 1.5, 2.5
        0x41e0_0000_0000_0000, 0xc1e0_0000_0000_0000, 0x43e0_0000_0000_0000, 0xc3e0_0000_0000_0000, // 2^31, -2^31, 2^63, -2^63
        0x41df_ffff_ffc0_0000, 0x3810_0000_0000_0000, // 2^31-1, a double below float's normal range
    ];

    public static uint Single(Rng r) => r.Below(3) switch
    {
        0 => r.Pick(FloatEdges),
        1 => BitConverter.SingleToUInt32Bits((float)((r.Below(2000) - 1000) / 8.0)), // small exact values
        _ => (uint)r.Next(),
    };

    public static ulong Double(Rng r) => r.Below(3) switch
    {
        0 => r.Pick(DoubleEdges),
        1 => BitConverter.DoubleToUInt64Bits((r.Below(2000) - 1000) / 8.0),
        _ => r.Next(),
    };

    /// <summary>Fills one XMM register's two quadwords as floats, doubles or integers.</summary>
    public static void Xmm(Rng r, Span<ulong> q)
    {
        switch (r.Below(4))
        {
            case 0:
                q[0] = Single(r) | (ulong)Single(r) << 32;
                q[1] = Single(r) | (ulong)Single(r) << 32;
                break;
            case 1:
                q[0] = Double(r);
                q[1] = Double(r);
                break;
            case 2:
                q[0] = Gpr(r);
                q[1] = Gpr(r);
                break;
            default:
                q[0] = r.Next();
                q[1] = r.Next();
                break;
        }
    }
}

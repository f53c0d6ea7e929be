namespace Emulator.Cli.Fuzz;

/// <summary>
/// SplitMix64: a small, fast generator whose whole state is one number, so every fuzz case is a
/// pure function of (seed, case index) and can be replayed alone.
/// </summary>
internal sealed class FuzzRng(ulong state)
{
    /// <summary>The generator of case <paramref name="index"/> of the run seeded with <paramref name="seed"/>.</summary>
    public static FuzzRng ForCase(ulong seed, long index) => new(Mix(seed ^ Mix((ulong)index + 0x9e37_79b9_7f4a_7c15)));

    public ulong Next()
    {
        state += 0x9e37_79b9_7f4a_7c15;
        return Mix(state);
    }

    /// <summary>A number in [0, <paramref name="bound"/>).</summary>
    public int Below(int bound) => (int)(Next() % (ulong)bound);

    public bool Chance(int percent) => Below(100) < percent;

    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];

    public void Fill(Span<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)Next();
        }
    }

    /// <summary>A 64-bit value shaped as code meets them: 0, -1, small, sign bits, powers of two, or random.</summary>
    public ulong Interesting() => Below(8) switch
    {
        0 => 0,
        1 => ulong.MaxValue,
        2 => (ulong)Below(256),
        3 => 1UL << Below(64),
        4 => (1UL << Below(64)) - 1,
        5 => 0x8000_0000_0000_0000UL >> (Below(4) * 16),
        _ => Next(),
    };

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xbf58_476d_1ce4_e5b9;
        z = (z ^ (z >> 27)) * 0x94d0_49bb_1331_11eb;
        return z ^ (z >> 31);
    }
}

namespace Emulator.X86.DiffTests;

/// <summary>
/// A small deterministic generator (xoshiro256** seeded by SplitMix64), so a case is a pure
/// function of (seed, group, case number) on every .NET version.
/// </summary>
public sealed class Rng
{
    private ulong s0, s1, s2, s3;

    public Rng(ulong seed)
    {
        s0 = SplitMix(ref seed);
        s1 = SplitMix(ref seed);
        s2 = SplitMix(ref seed);
        s3 = SplitMix(ref seed);
    }

    /// <summary>The generator of case <paramref name="index"/> of group <paramref name="group"/>.</summary>
    public static Rng ForCase(ulong seed, string group, long index)
    {
        ulong h = 0xcbf29ce484222325;
        foreach (char c in group)
        {
            h = (h ^ c) * 0x100000001b3;
        }

        ulong x = seed ^ h;
        ulong k = SplitMix(ref x) ^ (ulong)index * 0x9e3779b97f4a7c15;
        return new Rng(k);
    }

    public ulong Next()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Below(int n) => (int)((Next() >> 32) * (ulong)n >> 32);

    /// <summary>Uniform in [lo, hi].</summary>
    public int Range(int lo, int hi) => lo + Below(hi - lo + 1);

    /// <summary>True with probability <paramref name="percent"/>/100.</summary>
    public bool Chance(int percent) => Below(100) < percent;

    public T Pick<T>(IReadOnlyList<T> items) => items[Below(items.Count)];

    public void Fill(Span<byte> bytes)
    {
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes[i..], Next());
        }

        for (; i < bytes.Length; i++)
        {
            bytes[i] = (byte)Next();
        }
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9e3779b97f4a7c15;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
        z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
        return z ^ (z >> 31);
    }
}

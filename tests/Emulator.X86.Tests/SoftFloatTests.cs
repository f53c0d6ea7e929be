using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Emulator.X86.Helpers;
using Xunit;

namespace Emulator.X86.Tests;

/// <summary>
/// The software IEEE layer against references: the host's SSE unit for round-to-nearest results on
/// random operands (specials, denormals and boundary values included), and error-free
/// transformations (the sign of the exact error from FMA or TwoSum) for the directed rounding
/// modes and the inexact flag on normal-range operands.
/// </summary>
public class SoftFloatTests
{
    private const int Iterations = 20000;
    private const uint Nearest = MxcsrBits.Default;

    private static readonly uint[] SpecialSingles =
    [
        0, 0x8000_0000, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0xffc0_0000, 0x7f80_0001, 0xff81_2345, 0x7fc1_2345,
        0x0000_0001, 0x8000_0001, 0x007f_ffff, 0x0080_0000, 0x8080_0000, 0x7f7f_ffff, 0xff7f_ffff, 0x3f80_0000,
        0xbf80_0000, 0x3f80_0001, 0x3f7f_ffff, 0x4f00_0000, 0xcf00_0000, 0x5f00_0000, 0xdf00_0000, 0x4effffff,
    ];

    private static readonly ulong[] SpecialDoubles =
    [
        0, 0x8000_0000_0000_0000, 0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000, 0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000, 0x7ff0_0000_0000_0001, 0xfff4_0000_0000_1234, 0x0000_0000_0000_0001,
        0x8000_0000_0000_0001, 0x000f_ffff_ffff_ffff, 0x0010_0000_0000_0000, 0x7fef_ffff_ffff_ffff,
        0x3ff0_0000_0000_0000, 0xbff0_0000_0000_0000, 0x3ff0_0000_0000_0001, 0x3fef_ffff_ffff_ffff,
        0x43e0_0000_0000_0000, 0xc3e0_0000_0000_0000, 0x41e0_0000_0000_0000, 0xc1e0_0000_0020_0000,
    ];

    internal static uint RandomSingle(Random r)
    {
        int kind = r.Next(8);
        return kind switch
        {
            0 => SpecialSingles[r.Next(SpecialSingles.Length)],
            1 => (uint)r.Next(0x0080_0000) | (r.Next(2) == 0 ? 0 : 0x8000_0000u), // denormal or zero
            2 => (uint)r.NextInt64(0x3000_0000, 0x5000_0000) | (r.Next(2) == 0 ? 0 : 0x8000_0000u), // moderate
            3 => (uint)r.NextInt64(0x0080_0000, 0x0200_0000), // near underflow
            4 => (uint)r.NextInt64(0x7e00_0000, 0x7f80_0000), // near overflow
            _ => (uint)r.NextInt64(0, 1L << 32),
        };
    }

    internal static ulong RandomDouble(Random r)
    {
        int kind = r.Next(8);
        ulong sign = r.Next(2) == 0 ? 0 : 0x8000_0000_0000_0000;
        return kind switch
        {
            0 => SpecialDoubles[r.Next(SpecialDoubles.Length)],
            1 => (ulong)r.NextInt64(0, 1L << 52) | sign,
            2 => (ulong)r.NextInt64(0x3000_0000_0000_0000, 0x5000_0000_0000_0000) | sign,
            3 => (ulong)r.NextInt64(0x0010_0000_0000_0000, 0x0040_0000_0000_0000),
            4 => (ulong)r.NextInt64(0x7fc0_0000_0000_0000, 0x7ff0_0000_0000_0000) | sign,
            _ => (ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63),
        };
    }

    /// <summary>Operand b for a two-operand test: independent, or close to a (cancellation, ties, equal compares).</summary>
    private static ulong Near(Random r, ulong a, ulong random) => r.Next(3) switch
    {
        0 => a ^ (ulong)r.Next(16),
        1 => a ^ (1UL << 63) ^ (ulong)r.Next(4),
        _ => random,
    };

    private static Vector128<float> S(uint bits) => Vector128.CreateScalar(bits).AsSingle();

    private static Vector128<double> D(ulong bits) => Vector128.CreateScalar(bits).AsDouble();

    private static uint Bits(Vector128<float> v) => v.AsUInt32().ToScalar();

    private static ulong Bits(Vector128<double> v) => v.AsUInt64().ToScalar();

    [Fact]
    public void SingleArithmeticMatchesHostInRoundToNearest()
    {
        if (!Sse.IsSupported)
        {
            return; // needs an x86 host
        }

        var r = new Random(1234);
        var f = SoftFloat.F32;
        for (int i = 0; i < Iterations; i++)
        {
            uint a = RandomSingle(r);
            uint b = (uint)Near(r, a, RandomSingle(r));
            uint flags = 0;
            Check(Bits(Sse.AddScalar(S(a), S(b))), SoftFloat.Add(in f, a, b, false, Nearest, ref flags), "add", a, b);
            Check(Bits(Sse.SubtractScalar(S(a), S(b))), SoftFloat.Add(in f, a, b, true, Nearest, ref flags), "sub", a, b);
            Check(Bits(Sse.MultiplyScalar(S(a), S(b))), SoftFloat.Mul(in f, a, b, Nearest, ref flags), "mul", a, b);
            Check(Bits(Sse.DivideScalar(S(a), S(b))), SoftFloat.Div(in f, a, b, Nearest, ref flags), "div", a, b);
            Check(Bits(Sse.MinScalar(S(a), S(b))), SoftFloat.MinMax(in f, a, b, false, Nearest, ref flags), "min", a, b);
            Check(Bits(Sse.MaxScalar(S(a), S(b))), SoftFloat.MinMax(in f, a, b, true, Nearest, ref flags), "max", a, b);
            Check(Bits(Sse.SqrtScalar(S(a))), SoftFloat.Sqrt(in f, a, Nearest, ref flags), "sqrt", a, a);
            Check(Bits(Sse.CompareScalarLessThan(S(a), S(b))), Cmp(in f, a, b, 1), "cmplt", a, b);
            Check(Bits(Sse.CompareScalarNotLessThanOrEqual(S(a), S(b))), Cmp(in f, a, b, 6), "cmpnle", a, b);
            Check(Bits(Sse.CompareScalarEqual(S(a), S(b))), Cmp(in f, a, b, 0), "cmpeq", a, b);
            Check(Bits(Sse.CompareScalarUnordered(S(a), S(b))), Cmp(in f, a, b, 3), "cmpunord", a, b);
        }
    }

    [Fact]
    public void DoubleArithmeticMatchesHostInRoundToNearest()
    {
        if (!Sse2.IsSupported)
        {
            return; // needs an x86 host
        }

        var r = new Random(4321);
        var f = SoftFloat.F64;
        for (int i = 0; i < Iterations; i++)
        {
            ulong a = RandomDouble(r);
            ulong b = Near(r, a, RandomDouble(r));
            uint flags = 0;
            Check(Bits(Sse2.AddScalar(D(a), D(b))), SoftFloat.Add(in f, a, b, false, Nearest, ref flags), "add", a, b);
            Check(Bits(Sse2.SubtractScalar(D(a), D(b))), SoftFloat.Add(in f, a, b, true, Nearest, ref flags), "sub", a, b);
            Check(Bits(Sse2.MultiplyScalar(D(a), D(b))), SoftFloat.Mul(in f, a, b, Nearest, ref flags), "mul", a, b);
            Check(Bits(Sse2.DivideScalar(D(a), D(b))), SoftFloat.Div(in f, a, b, Nearest, ref flags), "div", a, b);
            Check(Bits(Sse2.MinScalar(D(a), D(b))), SoftFloat.MinMax(in f, a, b, false, Nearest, ref flags), "min", a, b);
            Check(Bits(Sse2.MaxScalar(D(a), D(b))), SoftFloat.MinMax(in f, a, b, true, Nearest, ref flags), "max", a, b);
            Check(Bits(Sse2.SqrtScalar(D(a))), SoftFloat.Sqrt(in f, a, Nearest, ref flags), "sqrt", a, a);
            Check(Bits(Sse2.CompareScalarLessThanOrEqual(D(a), D(b))), Cmp(in f, a, b, 2), "cmple", a, b);
            Check(Bits(Sse2.CompareScalarNotEqual(D(a), D(b))), Cmp(in f, a, b, 4), "cmpneq", a, b);
        }
    }

    [Fact]
    public void ConversionsMatchHostInRoundToNearest()
    {
        if (!Sse2.X64.IsSupported)
        {
            return; // needs an x86-64 host
        }

        var r = new Random(99);
        var f32 = SoftFloat.F32;
        var f64 = SoftFloat.F64;
        for (int i = 0; i < Iterations; i++)
        {
            uint s = RandomSingle(r);
            ulong d = RandomDouble(r);
            long n = r.Next(4) switch
            {
                0 => r.Next(),
                1 => -r.Next(),
                2 => r.NextInt64() >> r.Next(64),
                _ => r.NextInt64() | long.MinValue,
            };
            uint flags = 0;
            Check(Bits(Sse2.ConvertScalarToVector128Double(D(0), S(s))), SoftFloat.Convert(in f32, in f64, s, Nearest, ref flags), "cvtss2sd", s, 0);
            Check(Bits(Sse2.ConvertScalarToVector128Single(S(0), D(d))), SoftFloat.Convert(in f64, in f32, d, Nearest, ref flags), "cvtsd2ss", d, 0);
            Check((uint)Sse.ConvertToInt32(S(s)), SoftFloat.ToInt(in f32, s, 32, false, Nearest, ref flags), "cvtss2si", s, 0);
            Check((uint)Sse.ConvertToInt32WithTruncation(S(s)), SoftFloat.ToInt(in f32, s, 32, true, Nearest, ref flags), "cvttss2si", s, 0);
            Check((ulong)Sse.X64.ConvertToInt64(S(s)), SoftFloat.ToInt(in f32, s, 64, false, Nearest, ref flags), "cvtss2si64", s, 0);
            Check((uint)Sse2.ConvertToInt32(D(d)), SoftFloat.ToInt(in f64, d, 32, false, Nearest, ref flags), "cvtsd2si", d, 0);
            Check((ulong)Sse2.X64.ConvertToInt64WithTruncation(D(d)), SoftFloat.ToInt(in f64, d, 64, true, Nearest, ref flags), "cvttsd2si64", d, 0);
            Check(Bits(Sse.X64.ConvertScalarToVector128Single(S(0), n)), SoftFloat.FromInt(in f32, n, Nearest, ref flags), "cvtsi2ss64", (ulong)n, 0);
            Check(Bits(Sse2.X64.ConvertScalarToVector128Double(D(0), n)), SoftFloat.FromInt(in f64, n, Nearest, ref flags), "cvtsi2sd64", (ulong)n, 0);
            Check(Bits(Sse.ConvertScalarToVector128Single(S(0), (int)n)), SoftFloat.FromInt(in f32, (int)n, Nearest, ref flags), "cvtsi2ss", (ulong)n, 0);
        }
    }

    [Theory]
    [InlineData(IeeeRounding.Down)]
    [InlineData(IeeeRounding.Up)]
    [InlineData(IeeeRounding.TowardZero)]
    [InlineData(IeeeRounding.Nearest)]
    public void DirectedRoundingOfDoublesFollowsTheExactError(IeeeRounding rc)
    {
        var r = new Random(7 + (int)rc);
        var f = SoftFloat.F64;
        uint mxcsr = MxcsrBits.Default | ((uint)rc << MxcsrBits.RoundingShift);
        for (int i = 0; i < Iterations; i++)
        {
            // Normal operands well inside the range, so no result or error term under- or overflows.
            double a = NormalDouble(r), b = NormalDouble(r);
            if (r.Next(4) == 0)
            {
                b = a * (1 + (r.NextDouble() * 1e-10));
            }

            uint addFlags = 0, mulFlags = 0, divFlags = 0, sqrtFlags = 0;
            double sum = a + b;
            double sumError = (a - (sum - (sum - a))) + (b - (sum - a)); // TwoSum: a + b = sum + sumError exactly
            Directed(rc, sum, sumError, SoftFloat.Add(in f, Bits(a), Bits(b), false, mxcsr, ref addFlags), addFlags, "add", a, b);
            double prod = a * b;
            Directed(rc, prod, Math.FusedMultiplyAdd(a, b, -prod), SoftFloat.Mul(in f, Bits(a), Bits(b), mxcsr, ref mulFlags), mulFlags, "mul", a, b);
            double quot = a / b;
            double divError = Math.FusedMultiplyAdd(-quot, b, a) * Math.Sign(b);
            Directed(rc, quot, divError, SoftFloat.Div(in f, Bits(a), Bits(b), mxcsr, ref divFlags), divFlags, "div", a, b);
            double abs = Math.Abs(a);
            double root = Math.Sqrt(abs);
            Directed(rc, root, Math.FusedMultiplyAdd(-root, root, abs), SoftFloat.Sqrt(in f, Bits(abs), mxcsr, ref sqrtFlags), sqrtFlags, "sqrt", abs, 0);
        }
    }

    [Theory]
    [InlineData(IeeeRounding.Down)]
    [InlineData(IeeeRounding.Up)]
    [InlineData(IeeeRounding.TowardZero)]
    public void DirectedRoundingOfSinglesFollowsTheExactValue(IeeeRounding rc)
    {
        var r = new Random(17 + (int)rc);
        var f = SoftFloat.F32;
        uint mxcsr = MxcsrBits.Default | ((uint)rc << MxcsrBits.RoundingShift);
        for (int i = 0; i < Iterations; i++)
        {
            // Any finite singles, denormals included: their product is exact in double, and so is
            // their sum when the exponents are close (checked with TwoSum).
            float a = BitConverter.UInt32BitsToSingle(RandomSingle(r));
            float b = BitConverter.UInt32BitsToSingle(RandomSingle(r));
            if (!float.IsFinite(a) || !float.IsFinite(b) || a == 0 || b == 0)
            {
                continue;
            }

            double prod = (double)a * b;
            uint flags = 0;
            Assert.Equal(RoundToSingle(prod, rc), (uint)SoftFloat.Mul(in f, Bits(a), Bits(b), mxcsr, ref flags));
            double sum = (double)a + b;
            double err = (a - (sum - (sum - a))) + (b - (sum - a));
            if (err == 0 && sum != 0)
            {
                Assert.Equal(RoundToSingle(sum, rc), (uint)SoftFloat.Add(in f, Bits(a), Bits(b), false, mxcsr, ref flags));
            }
        }
    }

    private static double NormalDouble(Random r) =>
        (r.NextDouble() + 0.5) * Math.Pow(2, r.Next(-300, 300)) * (r.Next(2) == 0 ? 1 : -1);

    private static ulong Bits(double d) => (ulong)BitConverter.DoubleToInt64Bits(d);

    private static uint Bits(float f) => BitConverter.SingleToUInt32Bits(f);

    /// <summary>The directed result from the round-to-nearest one and the sign of exact - nearest.</summary>
    private static void Directed(IeeeRounding rc, double nearest, double error, ulong actual, uint flags, string op, double a, double b)
    {
        double expected = nearest;
        bool awayUp = rc == IeeeRounding.Up || (rc == IeeeRounding.TowardZero && nearest < 0);
        bool awayDown = rc == IeeeRounding.Down || (rc == IeeeRounding.TowardZero && nearest > 0);
        if (error > 0 && awayUp)
        {
            expected = Math.BitIncrement(nearest);
        }
        else if (error < 0 && awayDown)
        {
            expected = Math.BitDecrement(nearest);
        }

        Assert.True(Bits(expected) == actual, $"{op}({a:R}, {b:R}) in {rc}: expected {expected:R}, got {BitConverter.Int64BitsToDouble((long)actual):R}");
        Assert.Equal(error != 0 ? MxcsrBits.PE : 0, flags);
    }

    /// <summary>Rounds an exactly known double to single precision in a directed mode.</summary>
    private static uint RoundToSingle(double exact, IeeeRounding rc)
    {
        float n = (float)exact;
        if ((double)n == exact)
        {
            return Bits(n);
        }

        bool up = rc == IeeeRounding.Up || (rc == IeeeRounding.TowardZero && exact < 0);
        if (up && n < exact)
        {
            n = MathF.BitIncrement(n);
        }
        else if (!up && n > exact)
        {
            n = MathF.BitDecrement(n);
        }

        return Bits(n);
    }

    private static ulong Cmp(in IeeeFormat f, ulong a, ulong b, int predicate)
    {
        uint flags = 0;
        bool holds = SseFloatCompare.Holds(SoftFloat.Compare(in f, a, b, SseFloatCompare.SignalsOnQNaN(predicate), Nearest, ref flags), predicate);
        return holds ? f.SignBit | (f.SignBit - 1) : 0;
    }

    private static void Check(ulong expected, ulong actual, string op, ulong a, ulong b)
    {
        if (expected != actual)
        {
            Assert.Fail($"{op}(0x{a:x}, 0x{b:x}): host 0x{expected:x}, soft 0x{actual:x}");
        }
    }
}

using System.Numerics;
using System.Runtime.CompilerServices;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// Numeric instructions whose Wasm semantics differ from a single CIL opcode (spec 4.3.2, 4.3.3).
/// Called from compiled code; small and aggressively inlined, with throws kept in <see cref="Trap"/>.
/// </summary>
public static class NumericHelpers
{
    private const MethodImplOptions Inline = MethodImplOptions.AggressiveInlining;

    // --- integer division: trap on zero divisor and on signed overflow (spec 4.3.2 idiv, irem) ---

    [MethodImpl(Inline)]
    public static int I32DivS(int a, int b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        if (b == -1 && a == int.MinValue) Trap.Throw(TrapKind.IntegerOverflow);
        return a / b;
    }

    [MethodImpl(Inline)]
    public static int I32DivU(int a, int b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        return (int)((uint)a / (uint)b);
    }

    [MethodImpl(Inline)]
    public static int I32RemS(int a, int b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        return b == -1 ? 0 : a % b;
    }

    [MethodImpl(Inline)]
    public static int I32RemU(int a, int b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        return (int)((uint)a % (uint)b);
    }

    [MethodImpl(Inline)]
    public static long I64DivS(long a, long b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        if (b == -1 && a == long.MinValue) Trap.Throw(TrapKind.IntegerOverflow);
        return a / b;
    }

    [MethodImpl(Inline)]
    public static long I64DivU(long a, long b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        return (long)((ulong)a / (ulong)b);
    }

    [MethodImpl(Inline)]
    public static long I64RemS(long a, long b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        return b == -1 ? 0 : a % b;
    }

    [MethodImpl(Inline)]
    public static long I64RemU(long a, long b)
    {
        if (b == 0) Trap.Throw(TrapKind.IntegerDivideByZero);
        return (long)((ulong)a % (ulong)b);
    }

    // --- bit counting and rotation ---

    [MethodImpl(Inline)] public static int I32Clz(int a) => BitOperations.LeadingZeroCount((uint)a);
    [MethodImpl(Inline)] public static int I32Ctz(int a) => BitOperations.TrailingZeroCount(a);
    [MethodImpl(Inline)] public static int I32Popcnt(int a) => BitOperations.PopCount((uint)a);
    [MethodImpl(Inline)] public static long I64Clz(long a) => BitOperations.LeadingZeroCount((ulong)a);
    [MethodImpl(Inline)] public static long I64Ctz(long a) => BitOperations.TrailingZeroCount(a);
    [MethodImpl(Inline)] public static long I64Popcnt(long a) => BitOperations.PopCount((ulong)a);
    [MethodImpl(Inline)] public static int I32Rotl(int a, int b) => (int)BitOperations.RotateLeft((uint)a, b);
    [MethodImpl(Inline)] public static int I32Rotr(int a, int b) => (int)BitOperations.RotateRight((uint)a, b);
    [MethodImpl(Inline)] public static long I64Rotl(long a, long b) => (long)BitOperations.RotateLeft((ulong)a, (int)b);
    [MethodImpl(Inline)] public static long I64Rotr(long a, long b) => (long)BitOperations.RotateRight((ulong)a, (int)b);

    // --- float sign operations work on the bits so NaN payloads pass through unchanged (spec 4.3.3 fneg, fabs, fcopysign) ---

    [MethodImpl(Inline)] public static float F32Abs(float a) => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(a) & int.MaxValue);
    [MethodImpl(Inline)] public static float F32Neg(float a) => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(a) ^ int.MinValue);
    [MethodImpl(Inline)]
    public static float F32Copysign(float a, float b) => BitConverter.Int32BitsToSingle(
        (BitConverter.SingleToInt32Bits(a) & int.MaxValue) | (BitConverter.SingleToInt32Bits(b) & int.MinValue));
    [MethodImpl(Inline)] public static double F64Abs(double a) => BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(a) & long.MaxValue);
    [MethodImpl(Inline)] public static double F64Neg(double a) => BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(a) ^ long.MinValue);
    [MethodImpl(Inline)]
    public static double F64Copysign(double a, double b) => BitConverter.Int64BitsToDouble(
        (BitConverter.DoubleToInt64Bits(a) & long.MaxValue) | (BitConverter.DoubleToInt64Bits(b) & long.MinValue));

    // --- min/max: NaN wins and -0 < +0 (spec 4.3.3 fmin, fmax); a NaN operand is quieted by the addition ---

    [MethodImpl(Inline)] public static float F32Min(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? a + b : MathF.Min(a, b);
    [MethodImpl(Inline)] public static float F32Max(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? a + b : MathF.Max(a, b);
    [MethodImpl(Inline)] public static double F64Min(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? a + b : Math.Min(a, b);
    [MethodImpl(Inline)] public static double F64Max(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? a + b : Math.Max(a, b);

    // --- rounding: a NaN input gives an arithmetic (quiet) NaN ---

    [MethodImpl(Inline)] public static float F32Ceil(float a) => float.IsNaN(a) ? a + a : MathF.Ceiling(a);
    [MethodImpl(Inline)] public static float F32Floor(float a) => float.IsNaN(a) ? a + a : MathF.Floor(a);
    [MethodImpl(Inline)] public static float F32Trunc(float a) => float.IsNaN(a) ? a + a : MathF.Truncate(a);
    [MethodImpl(Inline)] public static float F32Nearest(float a) => float.IsNaN(a) ? a + a : MathF.Round(a, MidpointRounding.ToEven);
    [MethodImpl(Inline)] public static float F32Sqrt(float a) => MathF.Sqrt(a);
    [MethodImpl(Inline)] public static double F64Ceil(double a) => double.IsNaN(a) ? a + a : Math.Ceiling(a);
    [MethodImpl(Inline)] public static double F64Floor(double a) => double.IsNaN(a) ? a + a : Math.Floor(a);
    [MethodImpl(Inline)] public static double F64Trunc(double a) => double.IsNaN(a) ? a + a : Math.Truncate(a);
    [MethodImpl(Inline)] public static double F64Nearest(double a) => double.IsNaN(a) ? a + a : Math.Round(a, MidpointRounding.ToEven);
    [MethodImpl(Inline)] public static double F64Sqrt(double a) => Math.Sqrt(a);

    // --- float to int: exact range checks on the truncated value (spec 4.3.3 trunc_s, trunc_u) ---
    // Every f32 is exactly representable as f64, so the f32 variants reuse the f64 bounds.

    [MethodImpl(Inline)]
    private static void CheckTrunc(double a, double lowerExclusive, double upperExclusive)
    {
        if (double.IsNaN(a)) Trap.Throw(TrapKind.InvalidConversionToInteger);
        if (!(a > lowerExclusive && a < upperExclusive)) Trap.Throw(TrapKind.IntegerOverflow);
    }

    [MethodImpl(Inline)] public static int I32TruncF32S(float a) { CheckTrunc(a, -2147483649.0, 2147483648.0); return (int)a; }
    [MethodImpl(Inline)] public static int I32TruncF32U(float a) { CheckTrunc(a, -1.0, 4294967296.0); return (int)(uint)a; }
    [MethodImpl(Inline)] public static int I32TruncF64S(double a) { CheckTrunc(a, -2147483649.0, 2147483648.0); return (int)a; }
    [MethodImpl(Inline)] public static int I32TruncF64U(double a) { CheckTrunc(a, -1.0, 4294967296.0); return (int)(uint)a; }
    [MethodImpl(Inline)] public static long I64TruncF32S(float a) { CheckTrunc(a, -9223373136366403584.0, 9223372036854775808.0); return (long)a; }
    [MethodImpl(Inline)] public static long I64TruncF32U(float a) { CheckTrunc(a, -1.0, 18446744073709551616.0); return (long)(ulong)a; }
    [MethodImpl(Inline)] public static long I64TruncF64S(double a) { CheckTrunc(a, -9223372036854777856.0, 9223372036854775808.0); return (long)a; }
    [MethodImpl(Inline)] public static long I64TruncF64U(double a) { CheckTrunc(a, -1.0, 18446744073709551616.0); return (long)(ulong)a; }

    // --- saturating float to int (non-trapping conversions proposal, spec 4.3.3 trunc_sat) ---

    [MethodImpl(Inline)] public static int I32TruncSatF32S(float a) => float.IsNaN(a) ? 0 : a <= -2147483648f ? int.MinValue : a >= 2147483648f ? int.MaxValue : (int)a;
    [MethodImpl(Inline)] public static int I32TruncSatF32U(float a) => float.IsNaN(a) || a <= 0f ? 0 : a >= 4294967296f ? -1 : (int)(uint)a;
    [MethodImpl(Inline)] public static int I32TruncSatF64S(double a) => double.IsNaN(a) ? 0 : a <= -2147483648.0 ? int.MinValue : a >= 2147483647.0 ? int.MaxValue : (int)a;
    [MethodImpl(Inline)] public static int I32TruncSatF64U(double a) => double.IsNaN(a) || a <= 0 ? 0 : a >= 4294967295.0 ? -1 : (int)(uint)a;
    [MethodImpl(Inline)] public static long I64TruncSatF32S(float a) => float.IsNaN(a) ? 0 : a <= -9223372036854775808f ? long.MinValue : a >= 9223372036854775808f ? long.MaxValue : (long)a;
    [MethodImpl(Inline)] public static long I64TruncSatF32U(float a) => float.IsNaN(a) || a <= 0f ? 0 : a >= 18446744073709551616f ? -1 : (long)(ulong)a;
    [MethodImpl(Inline)] public static long I64TruncSatF64S(double a) => double.IsNaN(a) ? 0 : a <= -9223372036854775808.0 ? long.MinValue : a >= 9223372036854775808.0 ? long.MaxValue : (long)a;
    [MethodImpl(Inline)] public static long I64TruncSatF64U(double a) => double.IsNaN(a) || a <= 0 ? 0 : a >= 18446744073709551616.0 ? -1 : (long)(ulong)a;

    // --- unsigned int to float with a single rounding (spec 4.3.3 convert_u) ---

    [MethodImpl(Inline)] public static float F32ConvertI32U(int a) => (float)(double)(uint)a;
    [MethodImpl(Inline)] public static double F64ConvertI32U(int a) => (uint)a;

    [MethodImpl(Inline)]
    public static float F32ConvertI64U(long a)
    {
        if (a >= 0) return a;
        // Halve with a sticky low bit so the one rounding to float happens on an exact value.
        long half = (long)(((ulong)a >> 1) | ((ulong)a & 1));
        return (float)half * 2f;
    }

    [MethodImpl(Inline)]
    public static double F64ConvertI64U(long a)
    {
        if (a >= 0) return a;
        long half = (long)(((ulong)a >> 1) | ((ulong)a & 1));
        return (double)half * 2.0;
    }

    // --- constants the JIT must not see (see FloatConstants) ---

    /// <summary>NaN constants: the JIT folds float constants through double, which would quiet a signalling NaN.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] public static float F32FromBits(int bits) => BitConverter.Int32BitsToSingle(bits);

    [MethodImpl(MethodImplOptions.NoInlining)] public static double F64FromBits(long bits) => BitConverter.Int64BitsToDouble(bits);

    /// <summary>Out of line so the JIT cannot fold demote(promote(x)) to x, which would keep a signalling NaN (spec 4.3.3 demote).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] public static float F32DemoteF64(double a) => (float)a;

    // --- reinterpretations ---

    [MethodImpl(Inline)] public static int I32ReinterpretF32(float a) => BitConverter.SingleToInt32Bits(a);
    [MethodImpl(Inline)] public static long I64ReinterpretF64(double a) => BitConverter.DoubleToInt64Bits(a);
    [MethodImpl(Inline)] public static float F32ReinterpretI32(int a) => BitConverter.Int32BitsToSingle(a);
    [MethodImpl(Inline)] public static double F64ReinterpretI64(long a) => BitConverter.Int64BitsToDouble(a);
}

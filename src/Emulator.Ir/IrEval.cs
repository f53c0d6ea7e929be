using System.Numerics;
using System.Runtime.CompilerServices;

namespace Emulator.Ir;

/// <summary>
/// The meaning of every pure op, on zero-extended 64-bit values. Constant folding and the
/// interpreter both call these, so an op's semantics are written once.
/// </summary>
public static class IrEval
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Signed(ulong v, IrType t) => t switch
    {
        IrType.I8 => (sbyte)v,
        IrType.I16 => (short)v,
        IrType.I32 => (int)v,
        _ => (long)v,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Shl(ulong a, ulong n, IrType t) => n >= (ulong)t.Bits() ? 0 : (a << (int)n) & t.Mask();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Shr(ulong a, ulong n, IrType t) => n >= (ulong)t.Bits() ? 0 : a >> (int)n;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Sar(ulong a, ulong n, IrType t)
    {
        int bits = t.Bits();
        int s = n >= (ulong)bits ? bits - 1 : (int)n;
        return (ulong)(Signed(a, t) >> s) & t.Mask();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Rotl(ulong a, ulong n, IrType t)
    {
        int bits = t.Bits();
        int s = (int)(n & (ulong)(bits - 1));
        return s == 0 ? a : ((a << s) | (a >> (bits - s))) & t.Mask();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Rotr(ulong a, ulong n, IrType t)
    {
        int bits = t.Bits();
        int s = (int)(n & (ulong)(bits - 1));
        return s == 0 ? a : ((a >> s) | (a << (bits - s))) & t.Mask();
    }

    public static ulong MulHiU(ulong a, ulong b, IrType t) => t == IrType.I64
        ? Math.BigMul(a, b, out _)
        : ((a * b) >> t.Bits()) & t.Mask();

    public static ulong MulHiS(ulong a, ulong b, IrType t)
    {
        if (t == IrType.I64)
        {
            return (ulong)Math.BigMul((long)a, (long)b, out _);
        }

        long p = Signed(a, t) * Signed(b, t);
        return (ulong)(p >> t.Bits()) & t.Mask();
    }

    public static ulong Clz(ulong a, IrType t) => (ulong)(BitOperations.LeadingZeroCount(a) - (64 - t.Bits()));

    public static ulong Ctz(ulong a, IrType t) => a == 0 ? (ulong)t.Bits() : (ulong)BitOperations.TrailingZeroCount(a);

    public static ulong Bswap(ulong a, IrType t) => t switch
    {
        IrType.I16 => (ulong)((a >> 8) & 0xff | (a & 0xff) << 8),
        IrType.I32 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)a),
        IrType.I64 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(a),
        _ => a,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Compare(IrCond c, ulong a, ulong b, IrType t) => c switch
    {
        IrCond.Eq => a == b,
        IrCond.Ne => a != b,
        IrCond.LtU => a < b,
        IrCond.LeU => a <= b,
        IrCond.GtU => a > b,
        IrCond.GeU => a >= b,
        IrCond.LtS => Signed(a, t) < Signed(b, t),
        IrCond.LeS => Signed(a, t) <= Signed(b, t),
        IrCond.GtS => Signed(a, t) > Signed(b, t),
        _ => Signed(a, t) >= Signed(b, t),
    };

    /// <summary>
    /// Evaluates a pure op. <paramref name="t"/> is the result type; <paramref name="argType"/>
    /// the operands' type (they differ for SetCond and the extensions).
    /// </summary>
    public static ulong Pure(IrOpcode op, IrType t, IrType argType, ulong imm, ulong a, ulong b, ulong c)
    {
        ulong m = t.Mask();
        return op switch
        {
            IrOpcode.Const => imm & m,
            IrOpcode.Add => (a + b) & m,
            IrOpcode.Sub => (a - b) & m,
            IrOpcode.Mul => (a * b) & m,
            IrOpcode.MulHiU => MulHiU(a, b, t),
            IrOpcode.MulHiS => MulHiS(a, b, t),
            IrOpcode.And => a & b,
            IrOpcode.Or => a | b,
            IrOpcode.Xor => a ^ b,
            IrOpcode.Shl => Shl(a, b, t),
            IrOpcode.Shr => Shr(a, b, t),
            IrOpcode.Sar => Sar(a, b, t),
            IrOpcode.Rotl => Rotl(a, b, t),
            IrOpcode.Rotr => Rotr(a, b, t),
            IrOpcode.Neg => (0 - a) & m,
            IrOpcode.Not => ~a & m,
            IrOpcode.Clz => Clz(a, t),
            IrOpcode.Ctz => Ctz(a, t),
            IrOpcode.Popcnt => (ulong)BitOperations.PopCount(a),
            IrOpcode.Bswap => Bswap(a, t),
            IrOpcode.ZExt => a,
            IrOpcode.SExt => (ulong)Signed(a, argType) & m,
            IrOpcode.Trunc => a & m,
            IrOpcode.SetCond => Compare((IrCond)imm, a, b, argType) ? 1UL : 0UL,
            IrOpcode.Select => a != 0 ? b : c,
            _ => throw new InvalidOperationException($"{op} is not a pure op"),
        };
    }
}

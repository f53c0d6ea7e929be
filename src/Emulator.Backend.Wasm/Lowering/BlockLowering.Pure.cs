using Emulator.Ir;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>The pure ops: <see cref="IrEval"/> in Wasm instructions, on zero-extended i64 values.</summary>
internal sealed partial class BlockLowering
{
    private void EmitPure(in MicroOp op)
    {
        var t = op.Type;
        int bits = t.Bits();
        switch (op.Op)
        {
            case IrOpcode.Add when t == IrType.I32: Binary32(in op); c.I32Add(); c.I64ExtendI32U(); break;
            case IrOpcode.Sub when t == IrType.I32: Binary32(in op); c.I32Sub(); c.I64ExtendI32U(); break;
            case IrOpcode.Mul when t == IrType.I32: Binary32(in op); c.I32Mul(); c.I64ExtendI32U(); break;
            case IrOpcode.Add: Binary(in op); c.I64Add(); Mask(t); break;
            case IrOpcode.Sub: Binary(in op); c.I64Sub(); Mask(t); break;
            case IrOpcode.Mul: Binary(in op); c.I64Mul(); Mask(t); break;
            case IrOpcode.And: Binary(in op); c.I64And(); break;
            case IrOpcode.Or: Binary(in op); c.I64Or(); break;
            case IrOpcode.Xor: Binary(in op); c.I64Xor(); break;
            case IrOpcode.Neg: c.I64Const(0); Get(op.A); c.I64Sub(); Mask(t); break;
            case IrOpcode.Not: Get(op.A); c.I64Const(-1); c.I64Xor(); Mask(t); break;
            case IrOpcode.MulHiU: MulHigh(in op, signed: false); break;
            case IrOpcode.MulHiS: MulHigh(in op, signed: true); break;
            case IrOpcode.Shl:
                // n >= bits ? 0 : (a << n) & mask  (Wasm shifts count modulo 64)
                Binary(in op); c.I64Shl(); Mask(t);
                c.I64Const(0);
                CountBelow(op.B, bits);
                c.Select();
                break;
            case IrOpcode.Shr:
                Binary(in op); c.I64ShrU();
                c.I64Const(0);
                CountBelow(op.B, bits);
                c.Select();
                break;
            case IrOpcode.Sar:
                // signed(a) >> min(n, bits - 1), masked
                Get(op.A); SignExtend(t);
                Get(op.B);
                c.I64Const(bits - 1);
                CountBelow(op.B, bits);
                c.Select();
                c.I64ShrS();
                Mask(t);
                break;
            case IrOpcode.Rotl:
            case IrOpcode.Rotr:
                Rotate(in op, left: op.Op == IrOpcode.Rotl);
                break;
            case IrOpcode.Clz:
                Get(op.A); c.I64Clz();
                if (bits < 64) { c.I64Const(64 - bits); c.I64Sub(); }
                break;
            case IrOpcode.Ctz:
                // A set bit just above the type makes ctz(0) the type's width.
                Get(op.A);
                if (bits < 64) { c.I64Const(1L << bits); c.I64Or(); }
                c.I64Ctz();
                break;
            case IrOpcode.Popcnt: Get(op.A); c.I64Popcnt(); break;
            case IrOpcode.Bswap: Bswap(op.A, bits); break;
            case IrOpcode.ZExt: Get(op.A); break;
            case IrOpcode.SExt: Get(op.A); SignExtend(op.ArgType); Mask(t); break;
            case IrOpcode.Trunc: Get(op.A); Mask(t); break;
            case IrOpcode.SetCond: Compare(in op); c.I64ExtendI32U(); break;
            case IrOpcode.Select:
                Get(op.B);
                Get(op.C);
                Get(op.A);
                c.I64Const(0);
                c.I64Ne();
                c.Select();
                break;
            default:
                throw new InvalidOperationException($"tier 1: no lowering for IR op {op.Op}");
        }

        SetDest(in op);
    }

    private void Binary(in MicroOp op)
    {
        Get(op.A);
        Get(op.B);
    }

    /// <summary>
    /// Pushes the 32-bit halves of both operands, for an op done at 32 bits: the engines then emit
    /// one 32-bit instruction, which clears the upper half by itself, instead of a 64-bit one and
    /// an AND with a 64-bit mask.
    /// </summary>
    private void Binary32(in MicroOp op)
    {
        Get(op.A);
        c.I32WrapI64();
        Get(op.B);
        c.I32WrapI64();
    }

    private void Mask(IrType t)
    {
        if (t == IrType.I32)
        {
            // A 32-bit move, not an AND with a constant the engine must load.
            c.I32WrapI64();
            c.I64ExtendI32U();
        }
        else if (t != IrType.I64)
        {
            c.I64Const((long)t.Mask());
            c.I64And();
        }
    }

    /// <summary>Sign-extends a value of type <paramref name="t"/> on the stack to 64 bits.</summary>
    private void SignExtend(IrType t)
    {
        switch (t)
        {
            case IrType.I8: c.I64Extend8S(); break;
            case IrType.I16: c.I64Extend16S(); break;
            case IrType.I32: c.I64Extend32S(); break;
        }
    }

    /// <summary>Pushes the i32 condition count &lt; bits.</summary>
    private void CountBelow(int count, int bits)
    {
        Get(count);
        c.I64Const(bits);
        c.I64LtU();
    }

    private void Compare(in MicroOp op)
    {
        var cond = (IrCond)op.Imm;
        bool signed = cond is IrCond.LtS or IrCond.LeS or IrCond.GtS or IrCond.GeS;
        Get(op.A);
        if (signed) SignExtend(op.ArgType);
        Get(op.B);
        if (signed) SignExtend(op.ArgType);
        switch (cond)
        {
            case IrCond.Eq: c.I64Eq(); break;
            case IrCond.Ne: c.I64Ne(); break;
            case IrCond.LtU: c.I64LtU(); break;
            case IrCond.LeU: c.I64LeU(); break;
            case IrCond.GtU: c.I64GtU(); break;
            case IrCond.GeU: c.I64GeU(); break;
            case IrCond.LtS: c.I64LtS(); break;
            case IrCond.LeS: c.I64LeS(); break;
            case IrCond.GtS: c.I64GtS(); break;
            default: c.I64GeS(); break;
        }
    }

    private void Rotate(in MicroOp op, bool left)
    {
        int bits = op.Type.Bits();
        if (bits == 64)
        {
            Binary(in op);
            if (left) c.I64Rotl(); else c.I64Rotr();
            return;
        }

        if (bits == 32)
        {
            Get(op.A); c.I32WrapI64();
            Get(op.B); c.I32WrapI64();
            if (left) c.I32Rotl(); else c.I32Rotr();
            c.I64ExtendI32U();
            return;
        }

        // 8 and 16 bits: s = n & (bits - 1); ((a << s) | (a >> (bits - s))) & mask for a left
        // rotate (mirrored for right). a is below 2^bits, so s = 0 needs no special case.
        Get(op.B);
        c.I64Const(bits - 1);
        c.I64And();
        c.LocalSet(x);
        Get(op.A);
        c.LocalGet(x);
        if (left) c.I64Shl(); else c.I64ShrU();
        Get(op.A);
        c.I64Const(bits);
        c.LocalGet(x);
        c.I64Sub();
        if (left) c.I64ShrU(); else c.I64Shl();
        c.I64Or();
        Mask(op.Type);
    }

    private void Bswap(int a, int bits)
    {
        // Byte i moves to byte (n - 1 - i).
        int n = bits / 8;
        if (n == 1)
        {
            Get(a);
            return;
        }

        for (int i = 0; i < n; i++)
        {
            Get(a);
            if (i > 0) { c.I64Const(8 * i); c.I64ShrU(); }
            c.I64Const(0xff);
            c.I64And();
            int to = 8 * (n - 1 - i);
            if (to > 0) { c.I64Const(to); c.I64Shl(); }
            if (i > 0) c.I64Or();
        }
    }

    /// <summary>
    /// The high half of a product. Up to 32 bits the whole product fits in 64; for 64 bits it
    /// is built from 32-bit halves (Hacker's Delight 8-2), and the signed form corrects the
    /// unsigned one: hi_s = hi_u - (a &lt; 0 ? b : 0) - (b &lt; 0 ? a : 0).
    /// </summary>
    private void MulHigh(in MicroOp op, bool signed)
    {
        var t = op.Type;
        if (t != IrType.I64)
        {
            Get(op.A);
            if (signed) SignExtend(t);
            Get(op.B);
            if (signed) SignExtend(t);
            c.I64Mul();
            c.I64Const(t.Bits());
            if (signed) c.I64ShrS(); else c.I64ShrU();
            Mask(t);
            return;
        }

        // x = a_lo * b_lo; y = a_hi * b_lo + (x >> 32); z = a_lo * b_hi + (y & 0xffffffff)
        // hi = a_hi * b_hi + (y >> 32) + (z >> 32)
        HalfOf(op.A, high: false); HalfOf(op.B, high: false); c.I64Mul(); c.LocalSet(x);
        HalfOf(op.A, high: true); HalfOf(op.B, high: false); c.I64Mul();
        c.LocalGet(x); c.I64Const(32); c.I64ShrU(); c.I64Add(); c.LocalSet(y);
        HalfOf(op.A, high: false); HalfOf(op.B, high: true); c.I64Mul();
        c.LocalGet(y); c.I64Const(0xffffffffL); c.I64And(); c.I64Add(); c.LocalSet(z);
        HalfOf(op.A, high: true); HalfOf(op.B, high: true); c.I64Mul();
        c.LocalGet(y); c.I64Const(32); c.I64ShrU(); c.I64Add();
        c.LocalGet(z); c.I64Const(32); c.I64ShrU(); c.I64Add();
        if (signed)
        {
            // - (a >> 63 arithmetic) & b  - (b >> 63 arithmetic) & a
            Get(op.A); c.I64Const(63); c.I64ShrS(); Get(op.B); c.I64And(); c.I64Sub();
            Get(op.B); c.I64Const(63); c.I64ShrS(); Get(op.A); c.I64And(); c.I64Sub();
        }
    }

    private void HalfOf(int slot, bool high)
    {
        Get(slot);
        if (high)
        {
            c.I64Const(32);
            c.I64ShrU();
        }
        else
        {
            c.I64Const(0xffffffffL);
            c.I64And();
        }
    }
}

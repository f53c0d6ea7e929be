using Emulator.Backend.Wasm.Builder;

namespace Emulator.Backend.Wasm.Lowering;

/// <summary>
/// The lazy-flags helper (x86 LazyFlags.Compute, the one definition of the flag bits) written
/// in Wasm, so a block that reads materialised flags calls a function of its own module instead
/// of the host. It is the C# function's cases one for one; the tier-1 differential test checks
/// them against it. Its signature is the helper's: (cc_op, dst, src1, src2) -> RFLAGS bits, and
/// cc_op is <c>kind &lt;&lt; 2 | log2(operand bytes)</c> with the kinds in x86 CcKind order.
/// </summary>
internal static class FlagsFunction
{
    /// <summary>The locals the flag code uses: the function's own, or a run function's scratch when inlined.</summary>
    internal readonly record struct Locals(int CcOp, int Dst, int Src1, int Src2, int Kind, int Bits, int Mask, int Top, int Cf, int Of, int Af)
    {
        public const int Count = 11;

        public static Locals From(int first) => new(first, first + 1, first + 2, first + 3, first + 4, first + 5, first + 6, first + 7, first + 8, first + 9, first + 10);
    }

    private static readonly Locals Own = Locals.From(0);

    // CcKind order: Eflags, Add, Adc, Sub, Sbb, Logic, Inc, Dec, Shl, Shr, Sar, Mul, IMul.
    private const int KindCount = 13;

    /// <summary>CF, PF, AF, ZF, SF, OF (RFlags.Arith).</summary>
    private const long ArithMask = 0x8d5;

    public static int Add(WasmModuleBuilder module)
    {
        var c = new CodeWriter();
        var l = Own;

        // Materialised flags: cc_src1 holds them.
        c.LocalGet(l.CcOp); c.I64Const(2); c.I64ShrU(); c.LocalTee(l.Kind);
        c.I64Eqz();
        c.If();
        c.LocalGet(l.Src1); c.I64Const(ArithMask); c.I64And(); c.Return();
        c.End();

        // bits = 8 << log2size; mask = bits == 64 ? ~0 : (1 << bits) - 1; top = bits - 1
        c.I64Const(8); c.LocalGet(l.CcOp); c.I64Const(3); c.I64And(); c.I64Shl(); c.LocalSet(l.Bits);
        c.I64Const(-1);
        c.I64Const(1); c.LocalGet(l.Bits); c.I64Shl(); c.I64Const(1); c.I64Sub();
        c.LocalGet(l.Bits); c.I64Const(64); c.I64Eq();
        c.Select();
        c.LocalSet(l.Mask);
        c.LocalGet(l.Bits); c.I64Const(1); c.I64Sub(); c.LocalSet(l.Top);
        foreach (int v in new[] { l.Dst, l.Src1, l.Src2 })
        {
            c.LocalGet(v); c.LocalGet(l.Mask); c.I64And(); c.LocalSet(v);
        }

        // One block per kind 1..12, innermost first; br_table sends kind k to the end of block k.
        c.Block(); // $end
        c.Block(); // $default
        for (int k = KindCount - 1; k >= 1; k--)
        {
            c.Block();
        }

        c.LocalGet(l.Kind);
        c.I32WrapI64();
        var targets = new int[KindCount];
        targets[0] = KindCount - 1; // Eflags was handled above
        for (int k = 1; k < KindCount; k++)
        {
            targets[k] = k - 1;
        }

        c.BrTable(targets, KindCount - 1);
        for (int k = 1; k < KindCount; k++)
        {
            c.End(); // the end of block k: its code follows
            EmitKind(c, l, k);
            c.Br(KindCount - k); // to $end
        }

        c.End(); // $default: an unknown cc_op (the C# throws)
        c.Unreachable();
        c.End(); // $end

        Combine(c, l);
        c.End();

        WasmType[] i64x4 = [WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64];
        return module.AddFunction(i64x4, [WasmType.I64], [WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64], c);
    }

    /// <summary>
    /// Pushes the flags (or CF alone) of the known <paramref name="ccOp"/> inline, from the
    /// operands in frame values <paramref name="dst"/>, <paramref name="src1"/>, <paramref name="src2"/>
    /// (pushed by the callbacks), in the scratch locals <paramref name="l"/>: the same code as
    /// the function's case for that kind, with the width a constant, so the engine folds what
    /// the caller does not use.
    /// </summary>
    public static void EmitInline(CodeWriter c, Locals l, ulong ccOp, bool carryOnly, Action dst, Action src1, Action src2)
    {
        int kind = (int)(ccOp >> 2);
        if (kind == 0)
        {
            src1();
            c.I64Const(carryOnly ? 1 : ArithMask);
            c.I64And();
            return;
        }

        if (kind >= KindCount)
        {
            // Not a cc_op the frontend makes; the C# throws on it, and so does this.
            c.Unreachable();
            c.I64Const(0);
            return;
        }

        int bits = 8 << (int)(ccOp & 3);
        long mask = bits == 64 ? -1 : (1L << bits) - 1;
        c.I64Const(bits); c.LocalSet(l.Bits);
        c.I64Const(mask); c.LocalSet(l.Mask);
        c.I64Const(bits - 1); c.LocalSet(l.Top);
        foreach (var (local, value) in new[] { (l.Dst, dst), (l.Src1, src1), (l.Src2, src2) })
        {
            value(); c.I64Const(mask); c.I64And(); c.LocalSet(local);
        }

        foreach (int local in new[] { l.Cf, l.Of, l.Af })
        {
            c.I64Const(0); c.LocalSet(local);
        }

        EmitKind(c, l, kind);
        if (carryOnly)
        {
            c.LocalGet(l.Cf);
        }
        else
        {
            Combine(c, l);
        }
    }

    /// <summary>zf | sf | pf with cf, af, of: the RFLAGS bits.</summary>
    private static void Combine(CodeWriter c, Locals l)
    {
        c.LocalGet(l.Cf);
        c.I64Const(-1); c.LocalGet(l.Dst); c.I64Const(0xff); c.I64And(); c.I64Popcnt(); c.I64Xor(); c.I64Const(1); c.I64And();
        c.I64Const(2); c.I64Shl(); c.I64Or();
        c.LocalGet(l.Af); c.I64Or();
        c.LocalGet(l.Dst); c.I64Eqz(); c.I64ExtendI32U(); c.I64Const(6); c.I64Shl(); c.I64Or();
        c.LocalGet(l.Dst); c.LocalGet(l.Top); c.I64ShrU(); c.I64Const(1); c.I64And(); c.I64Const(7); c.I64Shl(); c.I64Or();
        c.LocalGet(l.Of); c.I64Const(11); c.I64Shl(); c.I64Or();
    }

    private static void EmitKind(CodeWriter c, Locals l, int kind)
    {
        switch (kind)
        {
            case 1: // Add: dst = src1 + src2
                Set(c, l.Cf, () => { c.LocalGet(l.Dst); c.LocalGet(l.Src1); c.I64LtU(); c.I64ExtendI32U(); });
                OverflowAdd(c, l);
                AuxXor3(c, l);
                break;
            case 2: // Adc: carry-in = dst - src1 - src2
                Set(c, l.Cf, () =>
                {
                    c.LocalGet(l.Dst); c.LocalGet(l.Src1); c.I64LeU(); c.I64ExtendI32U();
                    c.LocalGet(l.Dst); c.LocalGet(l.Src1); c.I64LtU(); c.I64ExtendI32U();
                    c.LocalGet(l.Dst); c.LocalGet(l.Src1); c.I64Sub(); c.LocalGet(l.Src2); c.I64Sub(); c.LocalGet(l.Mask); c.I64And();
                    c.I64Const(0); c.I64Ne();
                    c.Select();
                });
                OverflowAdd(c, l);
                AuxXor3(c, l);
                break;
            case 3: // Sub: dst = src1 - src2
                Set(c, l.Cf, () => { c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64LtU(); c.I64ExtendI32U(); });
                OverflowSub(c, l);
                AuxXor3(c, l);
                break;
            case 4: // Sbb: borrow-in = src1 - src2 - dst
                Set(c, l.Cf, () =>
                {
                    c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64LeU(); c.I64ExtendI32U();
                    c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64LtU(); c.I64ExtendI32U();
                    c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64Sub(); c.LocalGet(l.Dst); c.I64Sub(); c.LocalGet(l.Mask); c.I64And();
                    c.I64Const(0); c.I64Ne();
                    c.Select();
                });
                OverflowSub(c, l);
                AuxXor3(c, l);
                break;
            case 5: // Logic: CF = OF = AF = 0
                break;
            case 6: // Inc: src2 = CF before
            case 7: // Dec
                Set(c, l.Cf, () => { c.LocalGet(l.Src2); c.I64Const(1); c.I64And(); });
                Set(c, l.Of, () =>
                {
                    c.LocalGet(l.Dst);
                    c.I64Const(1); c.LocalGet(l.Top); c.I64Shl();
                    if (kind == 7)
                    {
                        c.I64Const(1); c.I64Sub();
                    }

                    c.I64Eq(); c.I64ExtendI32U();
                });
                Set(c, l.Af, () => { c.LocalGet(l.Src1); c.LocalGet(l.Dst); c.I64Xor(); c.I64Const(0x10); c.I64And(); });
                break;
            case 8: // Shl: cf = src2 <= bits ? (src1 >> (bits - src2)) & 1 : 0; of = ((dst >> top) ^ cf) & 1
                Set(c, l.Cf, () =>
                {
                    c.LocalGet(l.Src1); c.LocalGet(l.Bits); c.LocalGet(l.Src2); c.I64Sub(); c.I64ShrU(); c.I64Const(1); c.I64And();
                    c.I64Const(0);
                    c.LocalGet(l.Src2); c.LocalGet(l.Bits); c.I64LeU();
                    c.Select();
                });
                Set(c, l.Of, () => { c.LocalGet(l.Dst); c.LocalGet(l.Top); c.I64ShrU(); c.LocalGet(l.Cf); c.I64Xor(); c.I64Const(1); c.I64And(); });
                break;
            case 9: // Shr: cf = src2 - 1 < 64 ? (src1 >> (src2 - 1)) & 1 : 0; of = ((src1 ^ dst) >> top) & 1
                Set(c, l.Cf, () =>
                {
                    c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64Const(1); c.I64Sub(); c.I64ShrU(); c.I64Const(1); c.I64And();
                    c.I64Const(0);
                    c.LocalGet(l.Src2); c.I64Const(1); c.I64Sub(); c.I64Const(64); c.I64LtU();
                    c.Select();
                });
                Set(c, l.Of, () => { c.LocalGet(l.Src1); c.LocalGet(l.Dst); c.I64Xor(); c.LocalGet(l.Top); c.I64ShrU(); c.I64Const(1); c.I64And(); });
                break;
            case 10: // Sar: cf = (signext(src1) >> min(src2 - 1, 63)) & 1; of = 0
                Set(c, l.Cf, () =>
                {
                    // signext(src1) = (src1 << (64 - bits)) >> (64 - bits), arithmetic
                    c.LocalGet(l.Src1); c.I64Const(64); c.LocalGet(l.Bits); c.I64Sub(); c.I64Shl();
                    c.I64Const(64); c.LocalGet(l.Bits); c.I64Sub(); c.I64ShrS();
                    c.LocalGet(l.Src2); c.I64Const(1); c.I64Sub();
                    c.I64Const(63);
                    c.LocalGet(l.Src2); c.I64Const(1); c.I64Sub(); c.I64Const(63); c.I64LtU();
                    c.Select();
                    c.I64ShrS(); c.I64Const(1); c.I64And();
                });
                break;
            case 11: // Mul: cf = of = high half (src1) != 0
                Set(c, l.Cf, () => { c.LocalGet(l.Src1); c.I64Const(0); c.I64Ne(); c.I64ExtendI32U(); });
                Set(c, l.Of, () => c.LocalGet(l.Cf));
                break;
            default: // IMul: cf = of = high half is not the sign of the low half
                Set(c, l.Cf, () =>
                {
                    c.LocalGet(l.Src1);
                    c.LocalGet(l.Mask);
                    c.I64Const(0);
                    c.LocalGet(l.Dst); c.LocalGet(l.Top); c.I64ShrU(); c.I64Const(1); c.I64And(); c.I64Const(0); c.I64Ne();
                    c.Select();
                    c.I64Ne(); c.I64ExtendI32U();
                });
                Set(c, l.Of, () => c.LocalGet(l.Cf));
                break;
        }
    }

    private static void Set(CodeWriter c, int local, Action value)
    {
        value();
        c.LocalSet(local);
    }

    /// <summary>of = (((src1 ^ dst) &amp; (src2 ^ dst)) >> top) &amp; 1</summary>
    private static void OverflowAdd(CodeWriter c, Locals l) => Set(c, l.Of, () =>
    {
        c.LocalGet(l.Src1); c.LocalGet(l.Dst); c.I64Xor();
        c.LocalGet(l.Src2); c.LocalGet(l.Dst); c.I64Xor();
        c.I64And(); c.LocalGet(l.Top); c.I64ShrU(); c.I64Const(1); c.I64And();
    });

    /// <summary>of = (((src1 ^ src2) &amp; (src1 ^ dst)) >> top) &amp; 1</summary>
    private static void OverflowSub(CodeWriter c, Locals l) => Set(c, l.Of, () =>
    {
        c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64Xor();
        c.LocalGet(l.Src1); c.LocalGet(l.Dst); c.I64Xor();
        c.I64And(); c.LocalGet(l.Top); c.I64ShrU(); c.I64Const(1); c.I64And();
    });

    /// <summary>af = (src1 ^ src2 ^ dst) &amp; 0x10</summary>
    private static void AuxXor3(CodeWriter c, Locals l) => Set(c, l.Af, () =>
    {
        c.LocalGet(l.Src1); c.LocalGet(l.Src2); c.I64Xor(); c.LocalGet(l.Dst); c.I64Xor(); c.I64Const(0x10); c.I64And();
    });
}

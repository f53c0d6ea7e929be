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
    private const int CcOp = 0, Dst = 1, Src1 = 2, Src2 = 3;
    private const int Kind = 4, Bits = 5, Mask = 6, Top = 7, Cf = 8, Of = 9, Af = 10;

    // CcKind order: Eflags, Add, Adc, Sub, Sbb, Logic, Inc, Dec, Shl, Shr, Sar, Mul, IMul.
    private const int KindCount = 13;

    /// <summary>CF, PF, AF, ZF, SF, OF (RFlags.Arith).</summary>
    private const long ArithMask = 0x8d5;

    public static int Add(WasmModuleBuilder module)
    {
        var c = new CodeWriter();

        // Materialised flags: cc_src1 holds them.
        c.LocalGet(CcOp); c.I64Const(2); c.I64ShrU(); c.LocalTee(Kind);
        c.I64Eqz();
        c.If();
        c.LocalGet(Src1); c.I64Const(ArithMask); c.I64And(); c.Return();
        c.End();

        // bits = 8 << log2size; mask = bits == 64 ? ~0 : (1 << bits) - 1; top = bits - 1
        c.I64Const(8); c.LocalGet(CcOp); c.I64Const(3); c.I64And(); c.I64Shl(); c.LocalSet(Bits);
        c.I64Const(-1);
        c.I64Const(1); c.LocalGet(Bits); c.I64Shl(); c.I64Const(1); c.I64Sub();
        c.LocalGet(Bits); c.I64Const(64); c.I64Eq();
        c.Select();
        c.LocalSet(Mask);
        c.LocalGet(Bits); c.I64Const(1); c.I64Sub(); c.LocalSet(Top);
        foreach (int v in new[] { Dst, Src1, Src2 })
        {
            c.LocalGet(v); c.LocalGet(Mask); c.I64And(); c.LocalSet(v);
        }

        // One block per kind 1..12, innermost first; br_table sends kind k to the end of block k.
        c.Block(); // $end
        c.Block(); // $default
        for (int k = KindCount - 1; k >= 1; k--)
        {
            c.Block();
        }

        c.LocalGet(Kind);
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
            EmitKind(c, k);
            c.Br(KindCount - k); // to $end
        }

        c.End(); // $default: an unknown cc_op (the C# throws)
        c.Unreachable();
        c.End(); // $end

        // zf | sf | pf with cf, af, of
        c.LocalGet(Cf);
        c.I64Const(-1); c.LocalGet(Dst); c.I64Const(0xff); c.I64And(); c.I64Popcnt(); c.I64Xor(); c.I64Const(1); c.I64And();
        c.I64Const(2); c.I64Shl(); c.I64Or();
        c.LocalGet(Af); c.I64Or();
        c.LocalGet(Dst); c.I64Eqz(); c.I64ExtendI32U(); c.I64Const(6); c.I64Shl(); c.I64Or();
        c.LocalGet(Dst); c.LocalGet(Top); c.I64ShrU(); c.I64Const(1); c.I64And(); c.I64Const(7); c.I64Shl(); c.I64Or();
        c.LocalGet(Of); c.I64Const(11); c.I64Shl(); c.I64Or();
        c.End();

        WasmType[] i64x4 = [WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64];
        return module.AddFunction(i64x4, [WasmType.I64], [WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64, WasmType.I64], c);
    }

    private static void EmitKind(CodeWriter c, int kind)
    {
        switch (kind)
        {
            case 1: // Add: dst = src1 + src2
                Set(c, Cf, () => { c.LocalGet(Dst); c.LocalGet(Src1); c.I64LtU(); c.I64ExtendI32U(); });
                OverflowAdd(c);
                AuxXor3(c);
                break;
            case 2: // Adc: carry-in = dst - src1 - src2
                Set(c, Cf, () =>
                {
                    c.LocalGet(Dst); c.LocalGet(Src1); c.I64LeU(); c.I64ExtendI32U();
                    c.LocalGet(Dst); c.LocalGet(Src1); c.I64LtU(); c.I64ExtendI32U();
                    c.LocalGet(Dst); c.LocalGet(Src1); c.I64Sub(); c.LocalGet(Src2); c.I64Sub(); c.LocalGet(Mask); c.I64And();
                    c.I64Const(0); c.I64Ne();
                    c.Select();
                });
                OverflowAdd(c);
                AuxXor3(c);
                break;
            case 3: // Sub: dst = src1 - src2
                Set(c, Cf, () => { c.LocalGet(Src1); c.LocalGet(Src2); c.I64LtU(); c.I64ExtendI32U(); });
                OverflowSub(c);
                AuxXor3(c);
                break;
            case 4: // Sbb: borrow-in = src1 - src2 - dst
                Set(c, Cf, () =>
                {
                    c.LocalGet(Src1); c.LocalGet(Src2); c.I64LeU(); c.I64ExtendI32U();
                    c.LocalGet(Src1); c.LocalGet(Src2); c.I64LtU(); c.I64ExtendI32U();
                    c.LocalGet(Src1); c.LocalGet(Src2); c.I64Sub(); c.LocalGet(Dst); c.I64Sub(); c.LocalGet(Mask); c.I64And();
                    c.I64Const(0); c.I64Ne();
                    c.Select();
                });
                OverflowSub(c);
                AuxXor3(c);
                break;
            case 5: // Logic: CF = OF = AF = 0
                break;
            case 6: // Inc: src2 = CF before
            case 7: // Dec
                Set(c, Cf, () => { c.LocalGet(Src2); c.I64Const(1); c.I64And(); });
                Set(c, Of, () =>
                {
                    c.LocalGet(Dst);
                    c.I64Const(1); c.LocalGet(Top); c.I64Shl();
                    if (kind == 7)
                    {
                        c.I64Const(1); c.I64Sub();
                    }

                    c.I64Eq(); c.I64ExtendI32U();
                });
                Set(c, Af, () => { c.LocalGet(Src1); c.LocalGet(Dst); c.I64Xor(); c.I64Const(0x10); c.I64And(); });
                break;
            case 8: // Shl: cf = src2 <= bits ? (src1 >> (bits - src2)) & 1 : 0; of = ((dst >> top) ^ cf) & 1
                Set(c, Cf, () =>
                {
                    c.LocalGet(Src1); c.LocalGet(Bits); c.LocalGet(Src2); c.I64Sub(); c.I64ShrU(); c.I64Const(1); c.I64And();
                    c.I64Const(0);
                    c.LocalGet(Src2); c.LocalGet(Bits); c.I64LeU();
                    c.Select();
                });
                Set(c, Of, () => { c.LocalGet(Dst); c.LocalGet(Top); c.I64ShrU(); c.LocalGet(Cf); c.I64Xor(); c.I64Const(1); c.I64And(); });
                break;
            case 9: // Shr: cf = src2 - 1 < 64 ? (src1 >> (src2 - 1)) & 1 : 0; of = ((src1 ^ dst) >> top) & 1
                Set(c, Cf, () =>
                {
                    c.LocalGet(Src1); c.LocalGet(Src2); c.I64Const(1); c.I64Sub(); c.I64ShrU(); c.I64Const(1); c.I64And();
                    c.I64Const(0);
                    c.LocalGet(Src2); c.I64Const(1); c.I64Sub(); c.I64Const(64); c.I64LtU();
                    c.Select();
                });
                Set(c, Of, () => { c.LocalGet(Src1); c.LocalGet(Dst); c.I64Xor(); c.LocalGet(Top); c.I64ShrU(); c.I64Const(1); c.I64And(); });
                break;
            case 10: // Sar: cf = (signext(src1) >> min(src2 - 1, 63)) & 1; of = 0
                Set(c, Cf, () =>
                {
                    // signext(src1) = (src1 << (64 - bits)) >> (64 - bits), arithmetic
                    c.LocalGet(Src1); c.I64Const(64); c.LocalGet(Bits); c.I64Sub(); c.I64Shl();
                    c.I64Const(64); c.LocalGet(Bits); c.I64Sub(); c.I64ShrS();
                    c.LocalGet(Src2); c.I64Const(1); c.I64Sub();
                    c.I64Const(63);
                    c.LocalGet(Src2); c.I64Const(1); c.I64Sub(); c.I64Const(63); c.I64LtU();
                    c.Select();
                    c.I64ShrS(); c.I64Const(1); c.I64And();
                });
                break;
            case 11: // Mul: cf = of = high half (src1) != 0
                Set(c, Cf, () => { c.LocalGet(Src1); c.I64Const(0); c.I64Ne(); c.I64ExtendI32U(); });
                Set(c, Of, () => c.LocalGet(Cf));
                break;
            default: // IMul: cf = of = high half is not the sign of the low half
                Set(c, Cf, () =>
                {
                    c.LocalGet(Src1);
                    c.LocalGet(Mask);
                    c.I64Const(0);
                    c.LocalGet(Dst); c.LocalGet(Top); c.I64ShrU(); c.I64Const(1); c.I64And(); c.I64Const(0); c.I64Ne();
                    c.Select();
                    c.I64Ne(); c.I64ExtendI32U();
                });
                Set(c, Of, () => c.LocalGet(Cf));
                break;
        }
    }

    private static void Set(CodeWriter c, int local, Action value)
    {
        value();
        c.LocalSet(local);
    }

    /// <summary>of = (((src1 ^ dst) &amp; (src2 ^ dst)) >> top) &amp; 1</summary>
    private static void OverflowAdd(CodeWriter c) => Set(c, Of, () =>
    {
        c.LocalGet(Src1); c.LocalGet(Dst); c.I64Xor();
        c.LocalGet(Src2); c.LocalGet(Dst); c.I64Xor();
        c.I64And(); c.LocalGet(Top); c.I64ShrU(); c.I64Const(1); c.I64And();
    });

    /// <summary>of = (((src1 ^ src2) &amp; (src1 ^ dst)) >> top) &amp; 1</summary>
    private static void OverflowSub(CodeWriter c) => Set(c, Of, () =>
    {
        c.LocalGet(Src1); c.LocalGet(Src2); c.I64Xor();
        c.LocalGet(Src1); c.LocalGet(Dst); c.I64Xor();
        c.I64And(); c.LocalGet(Top); c.I64ShrU(); c.I64Const(1); c.I64And();
    });

    /// <summary>af = (src1 ^ src2 ^ dst) &amp; 0x10</summary>
    private static void AuxXor3(CodeWriter c) => Set(c, Af, () =>
    {
        c.LocalGet(Src1); c.LocalGet(Src2); c.I64Xor(); c.LocalGet(Dst); c.I64Xor(); c.I64Const(0x10); c.I64And();
    });
}

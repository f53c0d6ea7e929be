using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;
using static Emulator.X86.Helpers.X87State;

namespace Emulator.X86.Helpers;

/// <summary>
/// x87 basic arithmetic and comparisons: FADD FSUB FSUBR FMUL FDIV FDIVR with their P and I
/// forms, FCOM FUCOM FICOM FCOMI FUCOMI (SDM Vol. 2A).
/// <para>
/// Add, subtract, multiply and divide are exact: correctly rounded to the precision control
/// (24, 53 or 64 bits) by the rounding control, with PE, UE and OE as the masked responses
/// give them (Float80Arith). With overflow or underflow unmasked the result's exponent is
/// adjusted by 2^24576 (SDM Vol. 1 4.9.1.4-5); an unmasked invalid, denormal or zero-divide
/// exception leaves the destination and the stack unchanged.
/// </para>
/// </summary>
public static unsafe class X87Arith
{
    // Operations of x87_arith: dst = dst op src, or for the R forms dst = src op dst.
    public const int Add = 0, Mul = 1, Sub = 2, SubR = 3, Div = 4, DivR = 5;

    /// <summary>
    /// x87_arith(ctl, value, high, kind): ctl = op | dst ST index &lt;&lt; 4 | src ST index &lt;&lt; 8 |
    /// (src is the memory operand value/high of kind) &lt;&lt; 12 | pop &lt;&lt; 13.
    /// </summary>
    public static readonly HelperInfo Arith = HelperTable.Define("x87_arith", 4, Waiting, &ArithImpl);

    /// <summary>
    /// x87_compare(ctl, value, high, kind): ctl = unordered | pops &lt;&lt; 1 | (source is memory) &lt;&lt; 3 |
    /// (sets EFLAGS, FCOMI) &lt;&lt; 4 | src ST index &lt;&lt; 8. Returns the EFLAGS bits ZF, PF, CF of FCOMI.
    /// </summary>
    public static readonly HelperInfo Compare = HelperTable.Define("x87_compare", 4, Waiting, &CompareImpl);

    public const int CtlMemory = 1 << 12, CtlPop = 1 << 13;
    public const int CmpUnordered = 1, CmpMemory = 1 << 3, CmpEflags = 1 << 4;

    private static ulong ArithImpl(Cpu cpu, ulong ctl, ulong value, ulong high, ulong kind)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        int op = (int)ctl & 15;
        int dst = (int)(ctl >> 4) & 7;
        int src = (int)(ctl >> 8) & 7;
        bool memory = (ctl & CtlMemory) != 0;
        bool pop = (ctl & CtlPop) != 0;
        uint exc = 0;
        Float80 r;
        if (IsEmpty(cpu, dst) || (!memory && IsEmpty(cpu, src)))
        {
            if (!Underflow(cpu))
            {
                return 0;
            }

            r = Indefinite;
        }
        else
        {
            var a = St(cpu, dst);
            var b = memory ? FromMemory(cpu, dst, (int)kind, value, high, ref exc) : St(cpu, src);
            exc |= (Unmasked(cpu, OE) ? WrapOverflow : 0) | (Unmasked(cpu, UE) ? WrapUnderflow : 0);
            r = Binary(op, a, b, Precision(cpu), Rc(cpu), ref exc);
            if (Unmasked(cpu, exc & (IE | DE | ZE)))
            {
                // Detected before the operation: nothing is computed, so no precision or range flags.
                Signal(cpu, exc & (IE | DE | ZE));
                return 0;
            }

            Complete(cpu, exc);
        }

        SetSt(cpu, dst, r);
        if (pop)
        {
            Pop(cpu);
        }

        return 0;
    }

    /// <summary>
    /// A memory operand converted to extended precision. A single or double denormal is normal
    /// here, so its DE comes from the conversion; a QNaN operand outranks a denormal one (SDM
    /// Vol. 1 4.9.2), so with a NaN on either side there is no DE.
    /// </summary>
    private static Float80 FromMemory(Cpu cpu, int other, int kind, ulong value, ulong high, ref uint exc)
    {
        uint load = 0;
        var b = X87LoadStore.FromMemory(kind, value, high, ref load);
        if (IsNaN(b) || IsNaN(St(cpu, other)))
        {
            load &= ~DE;
        }

        exc |= load;
        return b;
    }

    /// <summary>The significand width the precision control selects (SDM Vol. 1 Table 8-2); the reserved 01 acts as 64.</summary>
    internal static int Precision(Cpu cpu) => ((cpu.S.Fcw >> 8) & 3) switch
    {
        0 => 24,
        2 => 53,
        _ => 64,
    };

    /// <summary>
    /// dst op src for op of x87_arith, correctly rounded to <paramref name="p"/> bits by
    /// <paramref name="rc"/>, with the x87's special-operand rules (SDM Vol. 1 4.9.1.2, 8.5.1,
    /// Tables 4-7 and 8-10).
    /// </summary>
    internal static Float80 Binary(int op, in Float80 a, in Float80 b, int p, int rc, ref uint exc)
    {
        var ca = Classify(a);
        var cb = Classify(b);
        if (ca == F80Class.Unsupported || cb == F80Class.Unsupported)
        {
            exc |= IE;
            return Indefinite;
        }

        if (ca is F80Class.QNaN or F80Class.SNaN || cb is F80Class.QNaN or F80Class.SNaN)
        {
            return PropagateNaN(a, b, ref exc);
        }

        if (ca == F80Class.Denormal || cb == F80Class.Denormal)
        {
            exc |= DE;
        }

        if (op is SubR or DivR)
        {
            return Binary(op - 1, b, a, p, rc, ref exc);
        }

        bool na = Sign(a), nb = Sign(b);
        switch (op)
        {
            case Add:
            case Sub:
            {
                var y = op == Sub ? Make(b.Mantissa, b.SignExponent ^ 0x8000) : b;
                bool ny = Sign(y);
                if (ca == F80Class.Infinity || cb == F80Class.Infinity)
                {
                    if (ca == F80Class.Infinity && cb == F80Class.Infinity && na != ny)
                    {
                        exc |= IE; // inf - inf
                        return Indefinite;
                    }

                    return ca == F80Class.Infinity ? a : y;
                }

                if (ca == F80Class.Zero && cb == F80Class.Zero)
                {
                    return na == ny ? a : Zero(rc == RoundDown);
                }

                if (ca == F80Class.Zero || cb == F80Class.Zero)
                {
                    return RoundTo(ca == F80Class.Zero ? y : a, p, rc, ref exc);
                }

                return Float80Arith.Add(a, y, p, rc, ref exc);
            }

            case Mul:
                if ((ca == F80Class.Infinity && cb == F80Class.Zero) || (ca == F80Class.Zero && cb == F80Class.Infinity))
                {
                    exc |= IE; // 0 * inf
                    return Indefinite;
                }

                if (ca == F80Class.Infinity || cb == F80Class.Infinity)
                {
                    return Infinity(na != nb);
                }

                if (ca == F80Class.Zero || cb == F80Class.Zero)
                {
                    return Zero(na != nb);
                }

                return Float80Arith.Multiply(a, b, p, rc, ref exc);
            default:
                if ((ca == F80Class.Infinity && cb == F80Class.Infinity) || (ca == F80Class.Zero && cb == F80Class.Zero))
                {
                    exc |= IE; // inf / inf, 0 / 0
                    return Indefinite;
                }

                if (cb == F80Class.Zero)
                {
                    if (ca != F80Class.Infinity)
                    {
                        exc |= ZE;
                    }

                    return Infinity(na != nb);
                }

                if (ca == F80Class.Infinity)
                {
                    return Infinity(na != nb);
                }

                if (ca == F80Class.Zero || cb == F80Class.Infinity)
                {
                    return Zero(na != nb);
                }

                return Float80Arith.Divide(a, b, p, rc, ref exc);
        }
    }

    /// <summary>The result when an operand is a NaN or unsupported: the indefinite with IE, or the propagated NaN.</summary>
    internal static Float80 NaNResult(in Float80 a, in Float80 b, ref uint exc)
    {
        if (Classify(a) == F80Class.Unsupported || Classify(b) == F80Class.Unsupported)
        {
            exc |= IE;
            return Indefinite;
        }

        return PropagateNaN(a, b, ref exc);
    }

    /// <summary>A finite value rounded to <paramref name="p"/> bits (an operand passed through an add of zero).</summary>
    internal static Float80 RoundTo(in Float80 v, int p, int rc, ref uint exc)
    {
        if (p == 64 && Classify(v) == F80Class.Normal)
        {
            return v;
        }

        Unpack(v, out int e, out ulong m);
        return PackWide(Sign(v), e, (UInt128)m << 64, p, rc, ref exc);
    }

    /// <summary>
    /// Orders two values: -1, 0, 1, or 2 when unordered. IE for an unsupported operand, an SNaN,
    /// or (for an ordered compare) any NaN (SDM Vol. 2A FCOM, FUCOM).
    /// </summary>
    internal static int Order(in Float80 a, in Float80 b, bool unordered, ref uint exc)
    {
        var ca = Classify(a);
        var cb = Classify(b);
        if (ca == F80Class.Unsupported || cb == F80Class.Unsupported)
        {
            exc |= IE;
            return 2;
        }

        if (ca is F80Class.QNaN or F80Class.SNaN || cb is F80Class.QNaN or F80Class.SNaN)
        {
            if (!unordered || ca == F80Class.SNaN || cb == F80Class.SNaN)
            {
                exc |= IE;
            }

            return 2;
        }

        if (ca == F80Class.Denormal || cb == F80Class.Denormal)
        {
            exc |= DE;
        }

        if (ca == F80Class.Zero && cb == F80Class.Zero)
        {
            return 0;
        }

        int ma = Magnitude(a, ca, out ulong ka);
        int mb = Magnitude(b, cb, out ulong kb);
        bool na = Sign(a) && ca != F80Class.Zero;
        bool nb = Sign(b) && cb != F80Class.Zero;
        if (na != nb)
        {
            return na ? -1 : 1;
        }

        int c = ma != mb ? (ma < mb ? -1 : 1) : ka.CompareTo(kb);
        return na ? -c : c;
    }

    /// <summary>A magnitude ordering key: (rank, significand), rank grows with the value.</summary>
    private static int Magnitude(in Float80 v, F80Class c, out ulong significand)
    {
        switch (c)
        {
            case F80Class.Zero:
                significand = 0;
                return int.MinValue;
            case F80Class.Infinity:
                significand = 0;
                return int.MaxValue;
            default:
                Unpack(v, out int e, out significand);
                return e;
        }
    }

    private static ulong CompareImpl(Cpu cpu, ulong ctl, ulong value, ulong high, ulong kind)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        bool unordered = (ctl & CmpUnordered) != 0;
        int pops = (int)(ctl >> 1) & 3;
        bool memory = (ctl & CmpMemory) != 0;
        bool eflags = (ctl & CmpEflags) != 0;
        int src = (int)(ctl >> 8) & 7;
        uint exc = 0;
        int order;
        if (IsEmpty(cpu, 0) || (!memory && IsEmpty(cpu, src)))
        {
            exc = IE | SF;
            order = 2;
        }
        else
        {
            var b = memory ? FromMemory(cpu, 0, (int)kind, value, high, ref exc) : St(cpu, src);
            order = Order(St(cpu, 0), b, unordered, ref exc);
        }

        if (Unmasked(cpu, exc & (IE | DE)))
        {
            // An unmasked invalid operand leaves the condition codes, EFLAGS and the stack unchanged.
            Signal(cpu, exc);
            return LazyFlags.Compute(cpu.S.CcOp, cpu.S.CcDst, cpu.S.CcSrc1, cpu.S.CcSrc2) & (ulong)RFlags.Arith;
        }

        cpu.S.Fsw &= unchecked((ushort)~C1);
        Signal(cpu, exc);
        ulong flags;
        if (eflags)
        {
            flags = order switch
            {
                -1 => (ulong)RFlags.CF,
                0 => (ulong)RFlags.ZF,
                1 => 0,
                _ => (ulong)(RFlags.ZF | RFlags.PF | RFlags.CF),
            };
        }
        else
        {
            SetCodes(cpu, order switch
            {
                -1 => C0,
                0 => C3,
                1 => 0,
                _ => C0 | C2 | C3,
            });
            flags = 0;
        }

        for (int k = 0; k < pops; k++)
        {
            Pop(cpu);
        }

        return flags;
    }
}

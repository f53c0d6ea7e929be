using Emulator.Ir;
using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;
using static Emulator.X86.Helpers.X87State;

namespace Emulator.X86.Helpers;

/// <summary>
/// x87 operations on ST(0) and ST(1) (SDM Vol. 2A): FCHS FABS FSQRT FRNDINT FTST FXAM FSCALE
/// FXTRACT FPREM FPREM1 exactly; the transcendental functions F2XM1 FYL2X FYL2XP1 FSIN FCOS
/// FSINCOS FPTAN FPATAN (X87Transcendental.cs) to about 64 bits through double-double
/// arithmetic (DoubleDouble.cs), which makes them approximate in the last bit or so, as a real
/// x87's are; they ignore the precision control, raise PE for any inexact result but not UE.
/// FSIN and friends use double precision for 2^40 &lt;= |x| &lt; 2^63, and F2XM1 outside its
/// architectural range |x| &lt;= 1.
/// </summary>
public static unsafe partial class X87Functions
{
    public const int Chs = 0, Abs = 1, Sqrt = 2, Rndint = 3, Sin = 4, Cos = 5, F2xm1 = 6, Tst = 7, Xam = 8,
        Ptan = 9, Sincos = 10, Xtract = 11, Scale = 12, Prem = 13, Prem1 = 14, Patan = 15, Yl2x = 16, Yl2xp1 = 17;

    /// <summary>x87_func(op): one of the operations above on the stack top.</summary>
    public static readonly HelperInfo Func = HelperTable.Define("x87_func", 1, Waiting, &FuncImpl);

    private static ulong FuncImpl(Cpu cpu, ulong opBits, ulong unused1, ulong unused2, ulong unused3)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        int op = (int)opBits;
        if (op == Xam)
        {
            Examine(cpu);
            return 0;
        }

        bool twoOperands = op >= Scale;
        if (IsEmpty(cpu, 0) || (twoOperands && IsEmpty(cpu, 1)))
        {
            StackUnderflow(cpu, op);
            return 0;
        }

        uint exc = 0;
        var x = St(cpu, 0);
        var y = twoOperands ? St(cpu, 1) : default;

        // A QNaN operand outranks a denormal one (SDM Vol. 1 4.9.2): no DE then.
        if (!IsNaN(x) && !IsNaN(y) && (Classify(x) == F80Class.Denormal || (twoOperands && Classify(y) == F80Class.Denormal)))
        {
            exc |= DE;
        }

        switch (op)
        {
            case Chs:
            case Abs:
                SetSt(cpu, 0, Make(x.Mantissa, op == Chs ? x.SignExponent ^ 0x8000 : x.SignExponent & 0x7FFF));
                cpu.S.Fsw &= unchecked((ushort)~C1);
                return 0;
            case Tst:
            {
                int order = X87Arith.Order(x, Zero(false), false, ref exc);
                Signal(cpu, exc);
                if (!Unmasked(cpu, exc & (IE | DE)))
                {
                    SetCodes(cpu, order switch { -1 => C0, 0 => C3, 1 => 0, _ => C0 | C2 | C3 });
                }

                return 0;
            }

            case Rndint:
                Result(cpu, 0, RoundInt(x, Rc(cpu), ref exc), exc);
                return 0;
            case Sqrt:
                Result(cpu, 0, SquareRoot(x, X87Arith.Precision(cpu), Rc(cpu), ref exc), exc);
                return 0;
            case Sin or Cos or Ptan or Sincos:
                Trig(cpu, op, x, exc);
                return 0;
            case F2xm1:
                Result(cpu, 0, Exp2Minus1(x, Rc(cpu), ref exc), exc);
                return 0;
            case Xtract:
                Extract(cpu, x, exc);
                return 0;
        }

        switch (op)
        {
            case Scale:
                Result(cpu, 0, ScaleBy(x, y, Rc(cpu), ref exc), exc);
                break;
            case Prem:
            case Prem1:
                Remainder(cpu, x, y, op == Prem1, exc);
                break;
            default:
            {
                // FPATAN, FYL2X, FYL2XP1: ST(1) = f(ST(1), ST(0)), then pop.
                int p = X87Arith.Precision(cpu), rc = Rc(cpu);
                Float80 r;
                if (IsNaN(x) || IsNaN(y) || Classify(x) == F80Class.Unsupported || Classify(y) == F80Class.Unsupported)
                {
                    r = X87Arith.NaNResult(y, x, ref exc);
                }
                else if (op == Patan)
                {
                    r = ArcTangent(y, x, ref exc);
                }
                else
                {
                    uint logExc = 0;
                    var l = op == Yl2x ? Log2Of(x, ref logExc) : Log2OnePlus(x, ref logExc);
                    if (BiasedExponent(l) == 0x7FFF && Classify(l) != F80Class.Infinity)
                    {
                        r = l; // the invalid-operand indefinite
                    }
                    else
                    {
                        if (Classify(l) == F80Class.Infinity && Sign(l) && Classify(y) is not (F80Class.Zero or F80Class.Infinity))
                        {
                            exc |= ZE; // log2(0) times a finite non-zero y
                        }

                        r = X87Arith.Binary(X87Arith.Mul, y, l, p, rc, ref exc);
                    }

                    // The logarithm's inexactness shows only in a finite non-zero product.
                    exc |= Classify(r) is F80Class.Normal or F80Class.Denormal ? logExc & ~RoundedUp : logExc & ~(PE | RoundedUp);
                }

                if (Unmasked(cpu, exc & (IE | DE | ZE)))
                {
                    Signal(cpu, exc & (IE | DE | ZE)); // nothing was computed
                    break;
                }

                Complete(cpu, exc);
                SetSt(cpu, 1, r);
                Pop(cpu);
                break;
            }
        }

        return 0;
    }

    /// <summary>Writes ST(i) = r unless an unmasked invalid, denormal or divide exception suppresses it.</summary>
    private static void Result(Cpu cpu, int i, in Float80 r, uint exc)
    {
        if (Unmasked(cpu, exc & (IE | DE | ZE)))
        {
            Signal(cpu, exc & (IE | DE | ZE)); // nothing was computed
            return;
        }

        Complete(cpu, exc);
        SetSt(cpu, i, r);
    }

    private static void StackUnderflow(Cpu cpu, int op)
    {
        bool masked = Underflow(cpu);
        if (op == Tst)
        {
            if (masked)
            {
                SetCodes(cpu, C0 | C2 | C3);
            }

            return;
        }

        if (!masked || op is Chs or Abs)
        {
            // FCHS and FABS of an empty register signal underflow; the masked result is the indefinite too.
            if (masked)
            {
                SetSt(cpu, 0, Indefinite);
            }

            return;
        }

        switch (op)
        {
            case Ptan or Sincos or Xtract:
                SetSt(cpu, 0, Indefinite);
                Push(cpu, Indefinite);
                cpu.S.Fsw &= unchecked((ushort)~C1); // the underflow outranks an overflow of the push: C1 = 0
                break;
            case Patan or Yl2x or Yl2xp1:
                SetSt(cpu, 1, Indefinite);
                Pop(cpu);
                break;
            case Prem or Prem1:
                // The indefinite is a complete result: C2 = 0 (SDM Vol. 2A FPREM, C2 "set to 0 if reduction complete").
                SetSt(cpu, 0, Indefinite);
                cpu.S.Fsw &= unchecked((ushort)~C2);
                break;
            default:
                SetSt(cpu, 0, Indefinite);
                break;
        }
    }

    /// <summary>FXAM (SDM Vol. 2A FXAM): the class in C3 C2 C0 and the sign in C1; an empty register is not an error.</summary>
    private static void Examine(Cpu cpu)
    {
        var x = St(cpu, 0);
        int codes = IsEmpty(cpu, 0) ? C3 | C0 : Classify(x) switch
        {
            F80Class.Unsupported => 0,
            F80Class.QNaN or F80Class.SNaN => C0,
            F80Class.Normal => C2,
            F80Class.Infinity => C2 | C0,
            F80Class.Zero => C3,
            _ => C3 | C2,
        };
        if (Sign(x))
        {
            codes |= C1;
        }

        SetCodes(cpu, (ushort)codes);
    }

    /// <summary>FSQRT, correctly rounded: -0 stays -0, +inf stays, any other negative operand is invalid.</summary>
    private static Float80 SquareRoot(in Float80 x, int p, int rc, ref uint exc)
    {
        var c = Classify(x);
        if (c is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported)
        {
            return X87Arith.NaNResult(x, x, ref exc);
        }

        if (c == F80Class.Zero || (c == F80Class.Infinity && !Sign(x)))
        {
            return x;
        }

        if (Sign(x))
        {
            exc |= IE;
            return Indefinite;
        }

        return Float80Arith.SquareRoot(x, p, rc, ref exc);
    }

    /// <summary>FRNDINT: exact rounding to an integer by the rounding control; PE when it changed the value.</summary>
    internal static Float80 RoundInt(in Float80 x, int rc, ref uint exc)
    {
        var c = Classify(x);
        if (c is F80Class.Zero or F80Class.Infinity)
        {
            return x;
        }

        if (c is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported)
        {
            return X87Arith.NaNResult(x, x, ref exc);
        }

        Unpack(x, out int e, out _);
        if (e >= 63)
        {
            return x;
        }

        RoundToInteger(x, rc, out ulong mag, ref exc);
        return Pack80(Sign(x), 63, mag, false, RoundNearest, ref exc);
    }

    /// <summary>FXTRACT: ST(0) becomes the unbiased exponent, then the significand (exponent 0) is pushed.</summary>
    private static void Extract(Cpu cpu, in Float80 x, uint exc)
    {
        Float80 exponent, significand;
        switch (Classify(x))
        {
            case F80Class.Zero:
                exc |= ZE;
                exponent = Infinity(true);
                significand = x;
                break;
            case F80Class.Infinity:
                exponent = Infinity(false);
                significand = x;
                break;
            case F80Class.Normal or F80Class.Denormal:
                Unpack(x, out int e, out ulong m);
                exponent = FromInt64(e);
                significand = Make(m, (x.SignExponent & 0x8000) | Bias);
                break;
            default:
                exponent = significand = X87Arith.NaNResult(x, x, ref exc);
                break;
        }

        if (!IsEmpty(cpu, 7))
        {
            // The push overflows the stack: the stack fault is all that is reported (no DE or ZE
            // of the operand), and with IE masked both halves are the indefinite, as the CPU
            // leaves them; unmasked, nothing changes (Push signals).
            if (Unmasked(cpu, IE))
            {
                Push(cpu, significand);
                return;
            }

            exponent = Indefinite;
            exc = 0;
        }

        if (Unmasked(cpu, exc & (IE | DE | ZE)))
        {
            Signal(cpu, exc & (IE | DE | ZE)); // nothing was computed
            return;
        }

        Signal(cpu, exc);
        SetSt(cpu, 0, exponent);
        Push(cpu, significand);
    }

    /// <summary>FSCALE: x * 2^trunc(y), exact up to the final rounding of an overflowing or tiny result.</summary>
    internal static Float80 ScaleBy(in Float80 x, in Float80 y, int rc, ref uint exc)
    {
        var cx = Classify(x);
        var cy = Classify(y);
        if (cx is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported || cy is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported)
        {
            return X87Arith.NaNResult(x, y, ref exc);
        }

        if (cy == F80Class.Infinity)
        {
            bool up = !Sign(y);
            if ((cx == F80Class.Zero && up) || (cx == F80Class.Infinity && !up))
            {
                exc |= IE;
                return Indefinite;
            }

            return cx is F80Class.Zero or F80Class.Infinity ? x : up ? Infinity(Sign(x)) : Zero(Sign(x));
        }

        if (cx is F80Class.Zero or F80Class.Infinity)
        {
            return x;
        }

        long n = 0;
        if (cy != F80Class.Zero)
        {
            Unpack(y, out int ey, out _);
            uint ignored = 0; // truncating the scale is not an inexact result
            n = ey > 20 ? 1L << 21 : (long)(RoundToInteger(y, RoundChop, out ulong mag, ref ignored) ? mag : 0);
            if (Sign(y))
            {
                n = -n;
            }
        }

        Unpack(x, out int e, out ulong m);
        return Pack80(Sign(x), (int)(e + n), m, false, rc, ref exc);
    }

    /// <summary>
    /// FPREM (truncating quotient) and FPREM1 (IEEE, nearest quotient), exact: C2 = 1 when the
    /// exponent difference is 64 or more and only a partial remainder was computed (the
    /// exponent is reduced by 32 to 63); otherwise C0, C3, C1 get quotient bits 2, 1, 0.
    /// </summary>
    private static void Remainder(Cpu cpu, in Float80 x, in Float80 y, bool nearest, uint exc)
    {
        var cx = Classify(x);
        var cy = Classify(y);
        Float80 r;
        ushort codes = 0;
        if (cx is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported || cy is F80Class.QNaN or F80Class.SNaN or F80Class.Unsupported)
        {
            r = X87Arith.NaNResult(x, y, ref exc);
        }
        else if (cx == F80Class.Infinity || cy == F80Class.Zero)
        {
            exc |= IE;
            r = Indefinite;
        }
        else if (cx == F80Class.Zero || cy == F80Class.Infinity)
        {
            r = cx == F80Class.Zero ? x : X87Arith.RoundTo(x, 64, RoundNearest, ref exc); // a pseudo-denormal comes out normalised
        }
        else
        {
            Unpack(x, out int ex, out ulong mx);
            Unpack(y, out int ey, out ulong my);
            bool neg = Sign(x);
            int d = ex - ey;
            ulong q = 0;
            ulong rem;
            int remExp;
            if (d < 0)
            {
                rem = mx;
                remExp = ex;
                if (nearest && d == -1 && mx > my)
                {
                    // |x| > |y| / 2: the nearest quotient is 1 and the remainder is |y| - |x|, negated.
                    UInt128 twice = (UInt128)my << 1;
                    rem = (ulong)(twice - mx);
                    neg = !neg;
                    q = 1;
                }
            }
            else
            {
                bool partial = d >= 64;
                int k = partial ? 32 + (d & 31) : d;
                UInt128 dividend = (UInt128)mx << k;
                UInt128 quotient = dividend / my;
                rem = (ulong)(dividend - quotient * my);
                q = (ulong)quotient;
                remExp = ex - k;
                if (partial)
                {
                    codes = C2;
                }
                else if (nearest && ((UInt128)rem << 1 > my || ((UInt128)rem << 1 == my && (q & 1) != 0)))
                {
                    rem = my - rem;
                    neg = !neg;
                    q++;
                }
            }

            r = Pack80(neg, remExp, rem, false, RoundNearest, ref exc);
            if (rem == 0)
            {
                r = Zero(Sign(x));
            }

            if (codes == 0)
            {
                codes = (ushort)(((q & 4) != 0 ? C0 : 0) | ((q & 2) != 0 ? C3 : 0) | ((q & 1) != 0 ? C1 : 0));
            }
        }

        if (Unmasked(cpu, exc & (IE | DE)))
        {
            Signal(cpu, exc & (IE | DE)); // nothing was computed
            return;
        }

        Signal(cpu, exc);
        SetCodes(cpu, codes);
        SetSt(cpu, 0, r);
    }
}

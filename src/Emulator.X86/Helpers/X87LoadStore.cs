using Emulator.Ir;
using Emulator.X86.State;
using static Emulator.X86.Helpers.Float80Math;
using static Emulator.X86.Helpers.X87State;

namespace Emulator.X86.Helpers;

/// <summary>
/// x87 loads and stores: FLD FILD FBLD FLDconst FST FSTP FIST FISTP FISTTP FBSTP, exact in every format
/// (SDM Vol. 2A FLD/FST/FILD/FIST, Vol. 1 4.8). A memory source is loaded by IR and passed
/// in; a memory destination is written here with cpu.Write, so nothing changes in the FPU
/// when the store faults.
/// </summary>
public static unsafe class X87LoadStore
{
    // Operand kinds of a memory operand (and two register-side kinds for x87_load).
    public const int F32 = 0, F64 = 1, F80 = 2, I16 = 3, I32 = 4, I64 = 5, Constant = 6, StReg = 7, Bcd = 8;

    /// <summary>Set in a store's kind: FISTTP, convert with truncation whatever FCW.RC says.</summary>
    public const int Truncate = 16;

    // Constant indices for FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ.
    public const int One = 0, L2T = 1, L2E = 2, Pi = 3, Lg2 = 4, Ln2 = 5, ZeroConst = 6;

    /// <summary>x87_load(kind, value, high): pushes a memory operand, a constant or a copy of ST(value).</summary>
    public static readonly HelperInfo Load = HelperTable.Define("x87_load", 3, Waiting, &LoadImpl);

    /// <summary>x87_store(addr, kind, pop): stores ST(0) to memory in format kind, then pops when pop != 0. May fault.</summary>
    public static readonly HelperInfo Store = HelperTable.Define("x87_store", 3, HelperTable.Effects, &StoreImpl);

    /// <summary>x87_store_st(i, pop): ST(i) = ST(0), then pops when pop != 0 (FST/FSTP ST(i)).</summary>
    public static readonly HelperInfo StoreSt = HelperTable.Define("x87_store_st", 2, Waiting, &StoreStImpl);

    /// <summary>
    /// The value of a memory operand of <paramref name="kind"/> as an 80-bit value (exact).
    /// <paramref name="high"/> is the sign/exponent word of an m80 operand.
    /// </summary>
    internal static Float80 FromMemory(int kind, ulong value, ulong high, ref uint exc) => kind switch
    {
        F32 => FromSingle((uint)value, ref exc),
        F64 => FromDouble(value, ref exc),
        F80 => Make(value, (int)(high & 0xFFFF)),
        I16 => FromInt64((short)value),
        I32 => FromInt64((int)value),
        Bcd => FromBcd(value, high),
        _ => FromInt64((long)value),
    };

    /// <summary>
    /// An 18-digit packed BCD integer (SDM Vol. 1 4.7): digits two per byte in bytes 0-8, least
    /// significant first, the sign in bit 7 of byte 9. Invalid digits give an undefined result.
    /// </summary>
    private static Float80 FromBcd(ulong low, ulong high)
    {
        long v = 0;
        for (int i = 1; i >= 0; i--)
        {
            v = (v * 10) + (long)((high >> (4 * i)) & 0xF);
        }

        for (int i = 15; i >= 0; i--)
        {
            v = (v * 10) + (long)((low >> (4 * i)) & 0xF);
        }

        return FromInt64((high & 0x8000) != 0 ? -v : v);
    }

    /// <summary>ST(0) as packed BCD rounded by rc, or the BCD indefinite and IE when it has more than 18 digits.</summary>
    private static (ulong Low, ulong High) ToBcd(in Float80 v, int rc, ref uint exc)
    {
        var cls = Classify(v);
        uint rounding = 0;
        if (cls is F80Class.QNaN or F80Class.SNaN or F80Class.Infinity or F80Class.Unsupported
            || !RoundToInteger(v, rc, out ulong mag, ref rounding) || mag > 999_999_999_999_999_999UL)
        {
            exc |= IE;
            return (0xC000_0000_0000_0000UL, 0xFFFF);
        }

        exc |= rounding;

        ulong low = 0, high = 0;
        for (int i = 0; i < 18; i++, mag /= 10)
        {
            ulong digit = mag % 10;
            if (i < 16)
            {
                low |= digit << (4 * i);
            }
            else
            {
                high |= digit << (4 * (i - 16));
            }
        }

        return (low, high | (Sign(v) ? 0x8000UL : 0));
    }

    private static ulong LoadImpl(Cpu cpu, ulong kind, ulong value, ulong high, ulong unused)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        uint exc = 0;
        bool underflow = false;
        Float80 v;
        switch ((int)kind)
        {
            case StReg:
                if (IsEmpty(cpu, (int)value))
                {
                    if (!Underflow(cpu))
                    {
                        return 0;
                    }

                    underflow = true;
                    v = Indefinite;
                }
                else
                {
                    v = St(cpu, (int)value);
                }

                break;
            case Constant:
                v = ConstantValue((int)value, Rc(cpu));
                break;
            default:
                v = FromMemory((int)kind, value, high, ref exc);
                if (kind is F32 or F64 && Classify(v) == F80Class.SNaN)
                {
                    v = Quiet(v, ref exc);
                }

                break;
        }

        if (TagOf(cpu, (Top(cpu) - 1) & 7) != 3)
        {
            // A full stack: the overflow is what is reported, not a denormal source (as the CPU does).
            exc &= ~DE;
        }

        if (Unmasked(cpu, exc))
        {
            Signal(cpu, exc);
            return 0;
        }

        Push(cpu, v);
        Signal(cpu, exc);
        if (underflow)
        {
            cpu.S.Fsw &= unchecked((ushort)~C1); // the source's underflow outranks an overflow of the push: C1 = 0
        }

        return 0;
    }

    /// <summary>
    /// The constants of FLD1 ... FLDZ (SDM Vol. 2A FLD1/FLDL2T/...): the 66-bit internal values
    /// rounded to 64 bits per the rounding control. Each entry is the round-to-nearest
    /// significand and whether rounding to nearest went up.
    /// </summary>
    private static Float80 ConstantValue(int index, int rc)
    {
        (ulong m, int se, bool nearestUp) = index switch
        {
            One => (IntegerBit, 0x3FFF, false),
            L2T => (0xD49A_784B_CD1B_8AFEUL, 0x4000, false),
            L2E => (0xB8AA_3B29_5C17_F0BCUL, 0x3FFF, true),
            Pi => (0xC90F_DAA2_2168_C235UL, 0x4000, true),
            Lg2 => (0x9A20_9A84_FBCF_F799UL, 0x3FFD, true),
            Ln2 => (0xB172_17F7_D1CF_79ACUL, 0x3FFE, true),
            _ => (0UL, 0, false),
        };
        if (index is not (One or ZeroConst))
        {
            // All are positive: rounding down or toward zero takes the lower neighbour, up the upper.
            if (nearestUp && rc is RoundDown or RoundChop)
            {
                m--;
            }
            else if (!nearestUp && rc == RoundUp)
            {
                m++;
            }
        }

        return Make(m, se);
    }

    private static ulong StoreImpl(Cpu cpu, ulong addr, ulong kindBits, ulong pop, ulong unused)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        int kind = (int)kindBits & 15;
        bool truncate = (kindBits & Truncate) != 0;
        uint exc = 0;
        ulong value;
        ulong high = 0;
        if (IsEmpty(cpu, 0))
        {
            exc = IE | SF;
            (value, high) = IndefiniteOf(kind);
        }
        else
        {
            ref var st0 = ref St(cpu, 0);
            int rc = truncate ? RoundChop : Rc(cpu);
            switch (kind)
            {
                case F32:
                    value = ToIeee(st0, false, rc, ref exc);
                    break;
                case F64:
                    value = ToIeee(st0, true, rc, ref exc);
                    break;
                case F80:
                    value = st0.Mantissa;
                    high = st0.SignExponent;
                    break;
                case Bcd:
                    (value, high) = ToBcd(st0, rc, ref exc);
                    break;
                default:
                    value = ToInteger(st0, kind, rc, ref exc);
                    break;
            }
        }

        if (Unmasked(cpu, exc & ~PE))
        {
            // An unmasked invalid, denormal, overflow or underflow stores nothing (SDM Vol. 1 4.9.2).
            if ((exc & SF) != 0)
            {
                cpu.S.Fsw &= unchecked((ushort)~C1);
            }

            Signal(cpu, exc);
            return 0;
        }

        int size = kind switch { F32 or I32 => 4, I16 => 2, _ => 8 };
        if (kind is F80 or Bcd)
        {
            // Both pieces are checked first: when either faults, nothing is written.
            if (!cpu.ProbeWrite(addr, 10) || !cpu.Write(addr, 8, value) || !cpu.Write(addr + 8, 2, high))
            {
                return 0;
            }
        }
        else if (!cpu.Write(addr, size, value))
        {
            return 0;
        }

        Complete(cpu, exc);
        if (pop != 0)
        {
            Pop(cpu);
        }

        return 0;
    }

    /// <summary>The masked response to an invalid store: the QNaN or integer indefinite of the format.</summary>
    private static (ulong Value, ulong High) IndefiniteOf(int kind) => kind switch
    {
        F32 => (0xFFC0_0000UL, 0),
        F64 => (0xFFF8_0000_0000_0000UL, 0),
        F80 => (Indefinite.Mantissa, Indefinite.SignExponent),
        Bcd => (0xC000_0000_0000_0000UL, 0xFFFF),
        I16 => (0x8000UL, 0),
        I32 => (0x8000_0000UL, 0),
        _ => (0x8000_0000_0000_0000UL, 0),
    };

    /// <summary>
    /// ST(0) rounded to an integer of the size of <paramref name="kind"/>: the integer indefinite
    /// and IE when it is a NaN, an infinity or out of range (SDM Vol. 2A FIST/FISTP).
    /// </summary>
    internal static ulong ToInteger(in Float80 v, int kind, int rc, ref uint exc)
    {
        int bits = kind switch { I16 => 16, I32 => 32, _ => 64 };
        ulong indefinite = 1UL << (bits - 1);
        var cls = Classify(v);
        if (cls is F80Class.QNaN or F80Class.SNaN or F80Class.Infinity or F80Class.Unsupported)
        {
            exc |= IE;
            return indefinite;
        }

        bool neg = Sign(v); // no DE for a denormal source: FIST lists no #D
        uint rounding = 0;
        if (!RoundToInteger(v, rc, out ulong mag, ref rounding) || mag > (neg ? indefinite : indefinite - 1))
        {
            exc |= IE;
            return indefinite;
        }

        exc |= rounding;

        ulong r = neg ? 0 - mag : mag;
        return bits == 64 ? r : r & ((1UL << bits) - 1);
    }

    private static ulong StoreStImpl(Cpu cpu, ulong i, ulong pop, ulong unused1, ulong unused2)
    {
        if (PendingFault(cpu))
        {
            return 0;
        }

        if (IsEmpty(cpu, 0))
        {
            if (!Underflow(cpu))
            {
                return 0;
            }

            SetSt(cpu, (int)i, Indefinite);
        }
        else
        {
            cpu.S.Fsw &= unchecked((ushort)~C1);
            var v = St(cpu, 0);
            SetSt(cpu, (int)i, v);
        }

        if (pop != 0)
        {
            Pop(cpu);
        }

        return 0;
    }
}

using System.Runtime.Intrinsics;
using Emulator.Ir;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>
/// PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM (SDM Vol. 2B 4.1 "Imm8 Control Byte Operation for
/// PCMPESTRI / PCMPESTRM / PCMPISTRI / PCMPISTRM"): one helper for the four, as the SDM
/// describes them: element format, aggregation, polarity and output selection from imm8, the
/// lengths explicit (rAX, rDX) or implicit (the first zero element). The index form writes ECX,
/// the mask form XMM0; the helper returns the arithmetic flags.
/// </summary>
public static unsafe class SseStringCompare
{
    /// <summary>Option bit: explicit lengths (PCMPESTRx) in rAX and rDX.</summary>
    public const ulong Explicit = 1 << 8;

    /// <summary>Option bit: index output (PCMPxSTRI, to ECX) rather than mask (PCMPxSTRM, to XMM0).</summary>
    public const ulong Index = 1 << 9;

    /// <summary>Option bit: REX.W, the explicit lengths are RAX and RDX rather than EAX and EDX.</summary>
    public const ulong Wide = 1 << 10;

    /// <summary>pcmpstr(xmm1 offset, xmm2/m128 offset, imm8 | options): returns CF, ZF, SF, OF as RFLAGS bits (AF and PF clear).</summary>
    public static readonly HelperInfo Compare = HelperTable.Define("pcmpstr", 3, OpFlags.ReadsState | OpFlags.WritesState, &CompareImpl);

    private static ulong CompareImpl(Cpu cpu, ulong aOffset, ulong bOffset, ulong control, ulong unused)
    {
        byte* a = (byte*)cpu.State + aOffset;
        byte* b = (byte*)cpu.State + bOffset;
        bool words = (control & 1) != 0;
        bool signed = (control & 2) != 0;
        int aggregation = (int)(control >> 2) & 3;
        int polarity = (int)(control >> 4) & 3;
        bool most = (control & 0x40) != 0;
        int n = words ? 8 : 16;

        int la, lb;
        if ((control & Explicit) != 0)
        {
            bool wide = (control & Wide) != 0;
            la = ExplicitLength(cpu.S.Gpr[(int)Gpr.Rax], wide, n);
            lb = ExplicitLength(cpu.S.Gpr[(int)Gpr.Rdx], wide, n);
        }
        else
        {
            la = ImplicitLength(a, words, n);
            lb = ImplicitLength(b, words, n);
        }

        uint all = (1u << n) - 1;
        uint bValid = (1u << lb) - 1;
        uint intRes1 = 0;
        switch (aggregation)
        {
            case 0: // equal any: b[j] equals some a[i]
                for (int i = 0; i < la; i++)
                {
                    intRes1 |= EqualTo(a, i, b, words);
                }

                intRes1 &= bValid;
                break;
            case 1: // ranges: a[i] <= b[j] <= a[i + 1] for some even i
                for (int j = 0; j < lb; j++)
                {
                    long v = Element(b, j, words, signed);
                    for (int i = 0; i + 1 < la; i += 2)
                    {
                        if (Element(a, i, words, signed) <= v && v <= Element(a, i + 1, words, signed))
                        {
                            intRes1 |= 1u << j;
                            break;
                        }
                    }
                }

                break;
            case 2: // equal each: a[i] == b[i]; both past their ends counts as equal
                {
                    uint aValid = (1u << la) - 1;
                    uint same = ExtractEqual(a, b, words);
                    intRes1 = (same & aValid & bValid) | (all & ~aValid & ~bValid);
                }

                break;
            default: // equal ordered: a occurs in b at j (a past its end matches anything; b past its end matches nothing)
                intRes1 = all;
                for (int i = 0; i < la; i++)
                {
                    // Candidate j needs b[j + i] == a[i] with j + i inside b, unless j + i is past the vector.
                    uint past = all & ~((1u << (n - i)) - 1);
                    intRes1 &= ((EqualTo(a, i, b, words) & bValid) >> i) | past;
                }

                break;
        }

        uint intRes2 = polarity switch
        {
            1 => ~intRes1 & all,
            3 => intRes1 ^ ((1u << lb) - 1),
            _ => intRes1,
        };

        ref var s = ref cpu.S;
        if ((control & Index) != 0)
        {
            int index = intRes2 == 0 ? n : most ? 31 - System.Numerics.BitOperations.LeadingZeroCount(intRes2) : System.Numerics.BitOperations.TrailingZeroCount(intRes2);
            s.Gpr[(int)Gpr.Rcx] = (uint)index;
        }
        else
        {
            ulong lo = 0, hi = 0;
            if (!most)
            {
                lo = intRes2;
            }
            else
            {
                int lane = words ? 2 : 1;
                for (int i = 0; i < n; i++)
                {
                    if (((intRes2 >> i) & 1) != 0)
                    {
                        for (int k = i * lane; k < (i + 1) * lane; k++)
                        {
                            if (k < 8)
                            {
                                lo |= 0xffUL << (8 * k);
                            }
                            else
                            {
                                hi |= 0xffUL << (8 * (k - 8));
                            }
                        }
                    }
                }
            }

            s.Xmm[0] = lo;
            s.Xmm[1] = hi;
        }

        ulong flags = 0;
        if (intRes2 != 0)
        {
            flags |= (ulong)RFlags.CF;
        }

        if (lb < n)
        {
            flags |= (ulong)RFlags.ZF;
        }

        if (la < n)
        {
            flags |= (ulong)RFlags.SF;
        }

        if ((intRes2 & 1) != 0)
        {
            flags |= (ulong)RFlags.OF;
        }

        return flags;
    }

    /// <summary>The lanes j of <paramref name="b"/> equal to lane i of <paramref name="a"/>, as bits (16 byte lanes or 8 word lanes).</summary>
    private static uint EqualTo(byte* a, int i, byte* b, bool words) => words
        ? (uint)Vector128.Equals(Vector128.Create(((ushort*)a)[i]), Vector128.Load((ushort*)b)).ExtractMostSignificantBits()
        : (uint)Vector128.Equals(Vector128.Create(a[i]), Vector128.Load(b)).ExtractMostSignificantBits();

    /// <summary>The lanes i where a[i] == b[i], as bits.</summary>
    private static uint ExtractEqual(byte* a, byte* b, bool words) => words
        ? (uint)Vector128.Equals(Vector128.Load((ushort*)a), Vector128.Load((ushort*)b)).ExtractMostSignificantBits()
        : (uint)Vector128.Equals(Vector128.Load(a), Vector128.Load(b)).ExtractMostSignificantBits();

    private static long Element(byte* v, int i, bool words, bool signed) =>
        words ? (signed ? ((short*)v)[i] : ((ushort*)v)[i]) : (signed ? ((sbyte*)v)[i] : v[i]);

    /// <summary>The absolute value of the signed length register, saturated to the element count.</summary>
    private static int ExplicitLength(ulong reg, bool wide, int n)
    {
        long v = wide ? (long)reg : (int)(uint)reg;
        ulong magnitude = v < 0 ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        return magnitude >= (ulong)n ? n : (int)magnitude;
    }

    private static int ImplicitLength(byte* v, bool words, int n)
    {
        for (int i = 0; i < n; i++)
        {
            if (Element(v, i, words, false) == 0)
            {
                return i;
            }
        }

        return n;
    }
}

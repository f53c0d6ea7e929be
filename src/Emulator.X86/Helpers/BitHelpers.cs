using System.Numerics;
using Emulator.Ir;

namespace Emulator.X86.Helpers;

/// <summary>BMI2 parallel bit deposit and extract (SDM Vol. 2B "PDEP", "PEXT"), on zero-extended operands.</summary>
public static unsafe class BitHelpers
{
    /// <summary>bmi_pdep(src, mask): the low bits of src, in order, placed at the set bits of mask.</summary>
    public static readonly HelperInfo Pdep = HelperTable.Define("bmi_pdep", 2, OpFlags.Pure, &PdepImpl);

    /// <summary>bmi_pext(src, mask): the bits of src at the set bits of mask, packed at the bottom.</summary>
    public static readonly HelperInfo Pext = HelperTable.Define("bmi_pext", 2, OpFlags.Pure, &PextImpl);

    private static ulong PdepImpl(Cpu cpu, ulong src, ulong mask, ulong unused1, ulong unused2)
    {
        ulong r = 0;
        for (int k = 0; mask != 0; k++)
        {
            ulong lowest = mask & (0 - mask);
            if (((src >> k) & 1) != 0)
            {
                r |= lowest;
            }

            mask ^= lowest;
        }

        return r;
    }

    private static ulong PextImpl(Cpu cpu, ulong src, ulong mask, ulong unused1, ulong unused2)
    {
        ulong r = 0;
        for (int k = 0; mask != 0; k++)
        {
            int pos = BitOperations.TrailingZeroCount(mask);
            r |= ((src >> pos) & 1) << k;
            mask &= mask - 1;
        }

        return r;
    }
}

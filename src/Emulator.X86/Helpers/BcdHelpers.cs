using Emulator.Ir;
using Emulator.X86.Flags;
using Emulator.X86.State;

namespace Emulator.X86.Helpers;

/// <summary>
/// The decimal-adjust instructions of 16- and 32-bit code (SDM Vol. 2A "DAA", "DAS", "AAA",
/// "AAS", "AAM"). Each takes AX and the arithmetic flags (RFLAGS bits) and returns the new AX
/// in bits 0-15 and the new arithmetic flags shifted left by 16.
/// </summary>
public static unsafe class BcdHelpers
{
    public static readonly HelperInfo Daa = HelperTable.Define("bcd_daa", 2, OpFlags.Pure, &DaaImpl);

    public static readonly HelperInfo Das = HelperTable.Define("bcd_das", 2, OpFlags.Pure, &DasImpl);

    public static readonly HelperInfo Aaa = HelperTable.Define("bcd_aaa", 2, OpFlags.Pure, &AaaImpl);

    public static readonly HelperInfo Aas = HelperTable.Define("bcd_aas", 2, OpFlags.Pure, &AasImpl);

    /// <summary>bcd_aam(al, base): AH = AL / base, AL = AL % base, as the new AX; base is never 0 (the frontend raises #DE).</summary>
    public static readonly HelperInfo Aam = HelperTable.Define("bcd_aam", 2, OpFlags.Pure, &AamImpl);

    private const ulong CF = (ulong)RFlags.CF;
    private const ulong AF = (ulong)RFlags.AF;

    /// <summary>AL with SF, ZF and PF of it, and CF and AF as given; OF (undefined) is 0.</summary>
    private static ulong Pack(ulong ax, ulong al, bool cf, bool af)
    {
        ulong f = (cf ? CF : 0) | (af ? AF : 0) | (LazyFlags.Parity(al) << 2);
        f |= al == 0 ? (ulong)RFlags.ZF : 0;
        f |= (al & 0x80) != 0 ? (ulong)RFlags.SF : 0;
        return (ax & 0xffff) | (f << 16);
    }

    private static ulong DaaImpl(Cpu cpu, ulong ax, ulong flags, ulong unused1, ulong unused2)
    {
        ulong al = ax & 0xff, oldAl = al;
        bool oldCf = (flags & CF) != 0, cf = false, af;
        if ((al & 0xf) > 9 || (flags & AF) != 0)
        {
            al += 6;
            cf = oldCf || al > 0xff;
            al &= 0xff;
            af = true;
        }
        else
        {
            af = false;
        }

        if (oldAl > 0x99 || oldCf)
        {
            al = (al + 0x60) & 0xff;
            cf = true;
        }
        else
        {
            cf = false;
        }

        return Pack((ax & 0xff00) | al, al, cf, af);
    }

    private static ulong DasImpl(Cpu cpu, ulong ax, ulong flags, ulong unused1, ulong unused2)
    {
        ulong al = ax & 0xff, oldAl = al;
        bool oldCf = (flags & CF) != 0, cf = false, af;
        if ((al & 0xf) > 9 || (flags & AF) != 0)
        {
            cf = oldCf || al < 6;
            al = (al - 6) & 0xff;
            af = true;
        }
        else
        {
            af = false;
        }

        if (oldAl > 0x99 || oldCf)
        {
            al = (al - 0x60) & 0xff;
            cf = true;
        }

        return Pack((ax & 0xff00) | al, al, cf, af);
    }

    /// <summary>AAA: AX += 0x106 when AL's low digit is over 9 or AF; AL keeps its low digit. OF, SF, ZF, PF undefined (kept).</summary>
    private static ulong AaaImpl(Cpu cpu, ulong ax, ulong flags, ulong unused1, ulong unused2)
    {
        bool adjust = (ax & 0xf) > 9 || (flags & AF) != 0;
        if (adjust)
        {
            ax += 0x106;
        }

        return Adjusted(ax, flags, adjust);
    }

    /// <summary>AAS: AX -= 6 and AH -= 1 when AL's low digit is over 9 or AF; AL keeps its low digit.</summary>
    private static ulong AasImpl(Cpu cpu, ulong ax, ulong flags, ulong unused1, ulong unused2)
    {
        bool adjust = (ax & 0xf) > 9 || (flags & AF) != 0;
        if (adjust)
        {
            ax -= 6;
            ax -= 0x100;
        }

        return Adjusted(ax, flags, adjust);
    }

    private static ulong Adjusted(ulong ax, ulong flags, bool adjust)
    {
        ax &= 0xff0f;
        ulong f = (flags & (ulong)RFlags.Arith & ~(CF | AF)) | (adjust ? CF | AF : 0);
        return ax | (f << 16);
    }

    private static ulong AamImpl(Cpu cpu, ulong al, ulong divisor, ulong unused1, ulong unused2)
    {
        al &= 0xff;
        divisor &= 0xff;
        return divisor == 0 ? 0 : ((al / divisor) << 8) | (al % divisor);
    }
}

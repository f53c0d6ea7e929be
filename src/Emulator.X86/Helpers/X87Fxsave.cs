using Emulator.Ir;
using Emulator.X86.State;
using static Emulator.X86.Helpers.X87State;

namespace Emulator.X86.Helpers;

/// <summary>
/// FXSAVE / FXRSTOR and their REX.W forms (SDM Vol. 2A FXSAVE, Tables 3-53 to 3-56): the
/// 512-byte image of the x87, MMX and SSE state. Bytes 0-31 hold FCW, FSW, the abridged tag
/// byte (bit n set: physical register Rn is not empty), FOP, FIP and FDP (32-bit offsets with
/// FCS/FDS, or 64-bit pointers with REX.W), MXCSR and MXCSR_MASK; bytes 32-159 the eight
/// registers in ST order, 16 bytes each; bytes 160-287 XMM0-7, and in 64-bit mode 288-415
/// XMM8-15. The rest of the image is neither written nor read.
/// </summary>
public static unsafe class X87Fxsave
{
    /// <summary>Flags: 64-bit FIP/FDP (REX.W), and 64-bit mode (XMM8-15 are part of the image).</summary>
    public const int RexW = 1, Mode64 = 2;

    /// <summary>x87_fxsave(addr, flags): #NM when CR0.EM or CR0.TS is set, #GP(0) unless addr is 16-byte aligned. May fault.</summary>
    public static readonly HelperInfo Save = HelperTable.Define("x87_fxsave", 2, HelperTable.Effects, &SaveImpl);

    /// <summary>x87_fxrstor(addr, flags): #GP(0) unless 16-byte aligned, or when MXCSR has bits outside MXCSR_MASK.</summary>
    public static readonly HelperInfo Restore = HelperTable.Define("x87_fxrstor", 2, HelperTable.Effects, &RestoreImpl);

    private const int Header = 4;

    private static int XmmCount(ulong flags) => (flags & Mode64) != 0 ? 16 : 8;

    private static ulong SaveImpl(Cpu cpu, ulong addr, ulong flags, ulong unused1, ulong unused2)
    {
        if (Unavailable(cpu))
        {
            return 0;
        }

        if ((addr & 15) != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        ref var s = ref cpu.S;
        int xmms = XmmCount(flags);

        // The whole 512-byte operand is checked first: when any page of it faults, nothing is written.
        if (!cpu.ProbeWrite(addr, 512))
        {
            return 0;
        }

        ulong abridged = 0;
        for (int p = 0; p < 8; p++)
        {
            if (TagOf(cpu, p) != 3)
            {
                abridged |= 1UL << p;
            }
        }

        bool wide = (flags & RexW) != 0;
        ulong piece0 = s.Fcw | ((ulong)s.Fsw << 16) | (abridged << 32) | ((ulong)(s.Fop & 0x7FF) << 48);
        ulong fip = wide ? s.Fip : s.Fip & 0xFFFF_FFFF; // FCS and FDS are stored as 0
        ulong fdp = wide ? s.Fdp : s.Fdp & 0xFFFF_FFFF;
        ulong piece3 = s.Mxcsr | ((ulong)s.MxcsrMask << 32);
        if (!cpu.Write(addr, 8, piece0) || !cpu.Write(addr + 8, 8, fip) || !cpu.Write(addr + 16, 8, fdp) || !cpu.Write(addr + 24, 8, piece3))
        {
            return 0;
        }

        for (int i = 0; i < 8; i++)
        {
            ref var r = ref St(cpu, i);
            ulong at = addr + 32 + (ulong)(16 * i);
            if (!cpu.Write(at, 8, r.Mantissa) || !cpu.Write(at + 8, 8, r.SignExponent))
            {
                return 0;
            }
        }

        for (int i = 0; i < 2 * xmms; i++)
        {
            if (!cpu.Write(addr + 160 + (ulong)(8 * i), 8, s.Xmm[i]))
            {
                return 0;
            }
        }

        return 0;
    }

    private static ulong RestoreImpl(Cpu cpu, ulong addr, ulong flags, ulong unused1, ulong unused2)
    {
        if (Unavailable(cpu))
        {
            return 0;
        }

        if ((addr & 15) != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        int xmms = XmmCount(flags);
        int pieces = Header + 16 + (2 * xmms);
        Span<ulong> image = stackalloc ulong[Header + 16 + 32];
        for (int k = 0; k < pieces; k++)
        {
            if (!cpu.Read(addr + (ulong)(8 * k), 8, out image[k]))
            {
                return 0;
            }
        }

        ref var s = ref cpu.S;
        uint mxcsr = (uint)image[3];
        if ((mxcsr & ~s.MxcsrMask) != 0)
        {
            cpu.RaiseException(Vector.GP, 0);
            return 0;
        }

        bool wide = (flags & RexW) != 0;
        ulong piece0 = image[0];
        s.Fcw = (ushort)((piece0 & 0x1F3F) | 0x0040);
        s.Fsw = (ushort)(piece0 >> 16);
        s.Fop = (ushort)((piece0 >> 48) & 0x7FF);
        s.Fip = wide ? image[1] : image[1] & 0xFFFF_FFFF;
        s.Fdp = wide ? image[2] : image[2] & 0xFFFF_FFFF;
        s.Mxcsr = mxcsr;
        for (int i = 0; i < 8; i++)
        {
            ref var r = ref St(cpu, i);
            r.Mantissa = image[Header + (2 * i)];
            r.SignExponent = (ushort)image[Header + (2 * i) + 1];
        }

        // The abridged tags say only empty or not; the full tags come from the registers' contents.
        ushort tags = 0;
        for (int p = 0; p < 8; p++)
        {
            if ((piece0 & (1UL << (32 + p))) == 0)
            {
                tags |= (ushort)(3 << (2 * p));
            }
        }

        s.Ftw = X87Control.RecomputeTags(cpu, tags);
        for (int i = 0; i < 2 * xmms; i++)
        {
            s.Xmm[i] = image[Header + 16 + i];
        }

        return 0;
    }
}

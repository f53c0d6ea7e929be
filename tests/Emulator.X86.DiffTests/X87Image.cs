using System.Buffers.Binary;
using Emulator.X86.State;

namespace Emulator.X86.DiffTests;

/// <summary>
/// The 512-byte FXSAVE image (SDM Vol. 2A FXSAVE, Table 3-53) both sides of a world case are
/// loaded from and compared in: FCW at 0, FSW at 2, the abridged tag byte at 4 (bit n set:
/// physical register Rn is not empty), MXCSR at 24, ST0-ST7 at 32 (16 bytes apart, in stack
/// order), XMM0-15 at 160. FOP, FIP and FDP are neither set nor compared (AMD saves them only
/// while an x87 exception is pending).
/// </summary>
public static unsafe class X87Image
{
    public const int Fcw = 0, Fsw = 2, Ftw = 4, Mxcsr = 24, St = 32, Xmm = 160;

    /// <summary>The FXSAVE image of the emulator's state.</summary>
    public static void Save(Cpu cpu, Span<byte> image)
    {
        ref var s = ref cpu.S;
        image.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(image[Fcw..], s.Fcw);
        BinaryPrimitives.WriteUInt16LittleEndian(image[Fsw..], s.Fsw);
        byte abridged = 0;
        for (int p = 0; p < 8; p++)
        {
            if (((s.Ftw >> (2 * p)) & 3) != 3)
            {
                abridged |= (byte)(1 << p);
            }
        }

        image[Ftw] = abridged;
        BinaryPrimitives.WriteUInt32LittleEndian(image[Mxcsr..], s.Mxcsr);
        BinaryPrimitives.WriteUInt32LittleEndian(image[(Mxcsr + 4)..], s.MxcsrMask);
        int top = (s.Fsw >> 11) & 7;
        for (int i = 0; i < 8; i++)
        {
            ref var r = ref (&cpu.State->Fpr0)[(top + i) & 7];
            BinaryPrimitives.WriteUInt64LittleEndian(image[(St + 16 * i)..], r.Mantissa);
            BinaryPrimitives.WriteUInt16LittleEndian(image[(St + 16 * i + 8)..], r.SignExponent);
        }

        for (int i = 0; i < 32; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(image[(Xmm + 8 * i)..], s.Xmm[i]);
        }
    }

    /// <summary>Loads the emulator's state from an image, as FXRSTOR does: the full tag word follows from the abridged one and the values.</summary>
    public static void Load(Cpu cpu, ReadOnlySpan<byte> image)
    {
        ref var s = ref cpu.S;
        s.Fcw = BinaryPrimitives.ReadUInt16LittleEndian(image[Fcw..]);
        s.Fsw = BinaryPrimitives.ReadUInt16LittleEndian(image[Fsw..]);
        s.Mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(image[Mxcsr..]);
        int top = (s.Fsw >> 11) & 7;
        ushort ftw = 0;
        for (int i = 0; i < 8; i++)
        {
            int phys = (top + i) & 7;
            ref var r = ref (&cpu.State->Fpr0)[phys];
            r.Mantissa = BinaryPrimitives.ReadUInt64LittleEndian(image[(St + 16 * i)..]);
            r.SignExponent = BinaryPrimitives.ReadUInt16LittleEndian(image[(St + 16 * i + 8)..]);
            ftw |= (ushort)(FullTag(image[Ftw] >> phys & 1, r) << (2 * phys));
        }

        s.Ftw = ftw;
        for (int i = 0; i < 32; i++)
        {
            s.Xmm[i] = BinaryPrimitives.ReadUInt64LittleEndian(image[(Xmm + 8 * i)..]);
        }
    }

    /// <summary>The image a case starts from: an empty x87 stack under <paramref name="fcw"/>, MXCSR and XMM from <paramref name="input"/>.</summary>
    public static byte[] Initial(MachineState input, ushort fcw = 0x037f)
    {
        var image = new byte[512];
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(Fcw), fcw);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(Mxcsr), input.Mxcsr);
        for (int i = 0; i < 32; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(Xmm + 8 * i), input.Xmm[i]);
        }

        return image;
    }

    /// <summary>The tag of a non-empty register (SDM Vol. 1 8.1.7): 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unnormal).</summary>
    private static int FullTag(int present, in Float80 r)
    {
        if (present == 0)
        {
            return 3;
        }

        int exponent = r.SignExponent & 0x7fff;
        if (exponent == 0)
        {
            return r.Mantissa == 0 ? 1 : 2;
        }

        return exponent == 0x7fff || (r.Mantissa >> 63) == 0 ? 2 : 0;
    }
}

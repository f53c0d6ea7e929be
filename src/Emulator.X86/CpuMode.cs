using Emulator.X86.State;

namespace Emulator.X86;

/// <summary>
/// The parts of CPU state that change how code is translated. Translation blocks are keyed by
/// physical address and this value; an instruction that changes it ends its block.
/// </summary>
public readonly record struct CpuMode(uint Bits)
{
    public const uint Code16 = 0;
    public const uint Code32 = 1;
    public const uint Code64 = 2;
    public const uint CodeSizeMask = 3;

    /// <summary>SS.B: the stack pointer is ESP (not SP) outside 64-bit mode.</summary>
    public const uint Stack32 = 1 << 2;

    /// <summary>CR0.PE = 0: segment bases are selector * 16.</summary>
    public const uint Real = 1 << 3;

    /// <summary>Segment bases of DS, ES and SS are all zero (no base to add, the common flat case).</summary>
    public const uint FlatDsEsSs = 1 << 4;

    /// <summary>Current privilege level in bits 5-6: translation checks privileged instructions with it.</summary>
    public const int CplShift = 5;

    public int Cpl => (int)(Bits >> CplShift) & 3;

    public int Bitness => (Bits & CodeSizeMask) switch { Code64 => 64, Code32 => 32, _ => 16 };

    public bool Is64 => (Bits & CodeSizeMask) == Code64;

    public bool StackIs32 => (Bits & Stack32) != 0;

    public bool IsReal => (Bits & Real) != 0;

    public bool FlatDataSegments => (Bits & FlatDsEsSs) != 0;

    public static CpuMode Of(ref CpuState s)
    {
        uint bits;
        bool longMode = (s.Efer & (1 << 10)) != 0; // EFER.LMA
        if (longMode && (s.Cs.Attrs & AttrL) != 0)
        {
            bits = Code64;
        }
        else
        {
            bits = (s.Cs.Attrs & AttrDb) != 0 ? Code32 : Code16;
        }

        if ((s.Ss.Attrs & AttrDb) != 0 || bits == Code64)
        {
            bits |= Stack32;
        }

        if ((s.Cr0 & 1) == 0)
        {
            bits |= Real;
        }
        else
        {
            bits |= (uint)((s.Cs.Attrs >> 5) & 3) << CplShift;
        }

        if (s.Ds.Base == 0 && s.Es.Base == 0 && s.Ss.Base == 0)
        {
            bits |= FlatDsEsSs;
        }

        return new CpuMode(bits);
    }

    /// <summary>Attribute bits as kept in <see cref="SegmentReg.Attrs"/> (descriptor bits 8-23, shifted down by 8).</summary>
    public const ushort AttrL = 1 << 13;

    public const ushort AttrDb = 1 << 14;

    public override string ToString() =>
        $"{Bitness}-bit cpl{Cpl}{(StackIs32 ? "" : " stack16")}{(IsReal ? " real" : "")}{(FlatDataSegments ? " flat" : "")}";
}

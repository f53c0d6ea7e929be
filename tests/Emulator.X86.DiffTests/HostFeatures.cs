using System.Runtime.Intrinsics.X86;
using Iced.Intel;

namespace Emulator.X86.DiffTests;

/// <summary>Which CPUID features the host has, for the instructions the generators use.</summary>
public static class HostFeatures
{
    private static readonly int Leaf1Ecx = X86Base.IsSupported ? X86Base.CpuId(1, 0).Ecx : 0;

    public static bool Cmpxchg16b => (Leaf1Ecx & (1 << 13)) != 0;

    public static bool Movbe => (Leaf1Ecx & (1 << 22)) != 0;

    public static bool Supports(CpuidFeature f) => f switch
    {
        CpuidFeature.INTEL8086 or CpuidFeature.INTEL8086_ONLY or CpuidFeature.INTEL186 or CpuidFeature.INTEL286
            or CpuidFeature.INTEL386 or CpuidFeature.INTEL486 or CpuidFeature.X64 or CpuidFeature.CMOV or CpuidFeature.CX8 => true,
        CpuidFeature.SSE => Sse.IsSupported,
        CpuidFeature.SSE2 => Sse2.IsSupported,
        CpuidFeature.SSE3 => Sse3.IsSupported,
        CpuidFeature.SSSE3 => Ssse3.IsSupported,
        CpuidFeature.SSE4_1 => Sse41.IsSupported,
        CpuidFeature.SSE4_2 => Sse42.IsSupported,
        CpuidFeature.CMPXCHG16B => Cmpxchg16b,
        CpuidFeature.MOVBE => Movbe,
        CpuidFeature.POPCNT => Popcnt.IsSupported,
        CpuidFeature.LZCNT => Lzcnt.IsSupported,
        CpuidFeature.BMI1 => Bmi1.IsSupported,
        _ => false,
    };

    /// <summary>The features of <paramref name="code"/> the host lacks (empty if it can run it).</summary>
    public static IEnumerable<CpuidFeature> Missing(Code code) => code.ToOpCode() is var info && info.IsInstruction
        ? CpuidOf(code).Where(f => !Supports(f))
        : [];

    public static CpuidFeature[] CpuidOf(Code code)
    {
        var probe = default(Instruction);
        probe.Code = code;
        return probe.CpuidFeatures;
    }
}

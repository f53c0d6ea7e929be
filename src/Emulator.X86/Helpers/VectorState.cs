using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Emulator.Ir;

namespace Emulator.X86.Helpers;

/// <summary>
/// Access to vector registers in the state block for the SSE/MMX integer helpers. A helper gets
/// state offsets and a length: 16 for an XMM register, 8 for an MM register (the 64-bit mantissa
/// of an x87 register, whose exponent word must not be touched). An 8-byte register is read into
/// the low half of a Vector128 with the high half zero, and only its low half is written back.
/// </summary>
internal static unsafe class VectorState
{
    /// <summary>The shape of every vector helper: (vcpu, dst offset, src offset or count, imm, length). They reach vector registers only.</summary>
    public static HelperInfo Define(string name, delegate*<Cpu, ulong, ulong, ulong, ulong, ulong> fn) =>
        HelperTable.Define(name, 4, OpFlags.ReadsState | OpFlags.WritesState, fn, generalState: false);

    /// <summary>A host pointer into the state block. Safe: offsets come from the translator, which only passes offsets of vector registers (CpuStateOffsets).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* At(Cpu cpu, ulong offset) => (byte*)cpu.State + offset;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<T> Load<T>(Cpu cpu, ulong offset, ulong length)
    {
        byte* p = At(cpu, offset);
        return (length == 16 ? Vector128.Load(p) : Vector128.Create(*(ulong*)p, 0UL).AsByte()).As<byte, T>();
    }

    /// <summary>Stores the low <paramref name="length"/> bytes of <paramref name="v"/>; returns 0 (the helper's result).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Store<T>(Cpu cpu, ulong offset, ulong length, Vector128<T> v)
    {
        byte* p = At(cpu, offset);
        if (length == 16)
        {
            v.AsByte().Store(p);
        }
        else
        {
            *(ulong*)p = v.AsUInt64().ToScalar();
        }

        return 0;
    }
}

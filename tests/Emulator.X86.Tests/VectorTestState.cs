using Emulator.X86.State;

namespace Emulator.X86.Tests;

/// <summary>Reads and writes XMM and MM registers of a test machine's vCPU directly.</summary>
internal static unsafe class VectorTestState
{
    public static void SetXmm(this TestMachine m, int n, ulong lo, ulong hi)
    {
        m.Cpu.State->Xmm[2 * n] = lo;
        m.Cpu.State->Xmm[(2 * n) + 1] = hi;
    }

    public static (ulong Lo, ulong Hi) Xmm(this TestMachine m, int n) => (m.Cpu.State->Xmm[2 * n], m.Cpu.State->Xmm[(2 * n) + 1]);

    /// <summary>x87 physical register Rn, whose mantissa is MMn.</summary>
    public static ref Float80 Fpr(this TestMachine m, int n) => ref (&m.Cpu.State->Fpr0)[n];

    public static void SetMm(this TestMachine m, int n, ulong v) => m.Fpr(n).Mantissa = v;

    public static ulong Mm(this TestMachine m, int n) => m.Fpr(n).Mantissa;
}

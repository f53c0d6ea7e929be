namespace Emulator.X86.DiffTests;

/// <summary>
/// The register state a case starts from and ends with, in the layout the host thunk reads and
/// writes (<see cref="HostCpu"/>): GPRs in encoding order, RFLAGS, MXCSR, XMM0-15.
/// </summary>
public sealed class MachineState
{
    public const int GprOffset = 0;
    public const int RflagsOffset = 16 * 8;
    public const int MxcsrOffset = RflagsOffset + 8;
    public const int XmmOffset = MxcsrOffset + 8;
    public const int Size = XmmOffset + 16 * 16;

    public ulong[] Gpr { get; } = new ulong[16];

    public ulong Rflags { get; set; }

    public uint Mxcsr { get; set; }

    /// <summary>XMMn is Xmm[2n] (low quadword) and Xmm[2n+1].</summary>
    public ulong[] Xmm { get; } = new ulong[32];

    public MachineState Clone()
    {
        var c = new MachineState { Rflags = Rflags, Mxcsr = Mxcsr };
        Gpr.CopyTo(c.Gpr, 0);
        Xmm.CopyTo(c.Xmm, 0);
        return c;
    }

    public unsafe void WriteTo(byte* ctx)
    {
        var q = (ulong*)ctx;
        for (int i = 0; i < 16; i++)
        {
            q[i] = Gpr[i];
        }

        q[RflagsOffset / 8] = Rflags;
        q[MxcsrOffset / 8] = Mxcsr;
        for (int i = 0; i < 32; i++)
        {
            q[XmmOffset / 8 + i] = Xmm[i];
        }
    }

    public unsafe void ReadFrom(byte* ctx)
    {
        var q = (ulong*)ctx;
        for (int i = 0; i < 16; i++)
        {
            Gpr[i] = q[i];
        }

        Rflags = q[RflagsOffset / 8];
        Mxcsr = (uint)q[MxcsrOffset / 8];
        for (int i = 0; i < 32; i++)
        {
            Xmm[i] = q[XmmOffset / 8 + i];
        }
    }
}

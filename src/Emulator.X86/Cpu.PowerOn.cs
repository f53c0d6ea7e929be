namespace Emulator.X86;

public sealed unsafe partial class Cpu
{
    /// <summary>
    /// RESET (a machine reset, SDM Vol. 3A 9.1.1 Table 9-1): the state <see cref="Reset"/> gives
    /// (INIT's), plus what INIT keeps and RESET clears: the MTRRs, the TSC offset, a pending or
    /// blocked NMI and a wait for SIPI. The CPU model (<c>Features</c>) is configuration and stays.
    /// </summary>
    public void PowerOn()
    {
        Reset();
        mtrrs.Clear();
        tscOffset = 0;
        NmiBlocked = false;
        NmiPending = false;
        WaitingForSipi = false;
    }
}

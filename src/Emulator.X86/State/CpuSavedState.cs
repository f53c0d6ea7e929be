namespace Emulator.X86.State;

/// <summary>A segment register with its descriptor cache, as saved.</summary>
public sealed record SegmentSavedState(ushort Selector, ulong Base, uint Limit, ushort Attrs);

/// <summary>An x87 register (80 bits: 64-bit mantissa, sign and exponent), as saved.</summary>
public sealed record Float80SavedState(ulong Mantissa, ushort SignExponent);

/// <summary>
/// One vCPU's saved state (snapshot section "cpu"): a record separate from the live
/// <see cref="CpuState"/> block, so the native layout can change without changing the file. RFLAGS
/// is saved materialised (no lazy-flag fields). Pending-exception and exit-request fields are not
/// saved: a snapshot is taken between blocks, where they are clear. Register lists follow the
/// instruction encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15; XMM0-15 as low/high
/// quadword pairs; the x87 registers R0-R7 physically, not ST(i)).
/// </summary>
public sealed record CpuSavedState
{
    /// <summary>1: the first version (every field below).</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public required IReadOnlyList<ulong> Gpr { get; init; }

    public ulong Rip { get; init; }

    public ulong Rflags { get; init; }

    public required SegmentSavedState Es { get; init; }

    public required SegmentSavedState Cs { get; init; }

    public required SegmentSavedState Ss { get; init; }

    public required SegmentSavedState Ds { get; init; }

    public required SegmentSavedState Fs { get; init; }

    public required SegmentSavedState Gs { get; init; }

    public required SegmentSavedState Ldtr { get; init; }

    public required SegmentSavedState Tr { get; init; }

    public ulong GdtrBase { get; init; }

    public uint GdtrLimit { get; init; }

    public ulong IdtrBase { get; init; }

    public uint IdtrLimit { get; init; }

    public ulong Cr0 { get; init; }

    public ulong Cr2 { get; init; }

    public ulong Cr3 { get; init; }

    public ulong Cr4 { get; init; }

    public ulong Cr8 { get; init; }

    public ulong Efer { get; init; }

    public required IReadOnlyList<ulong> Dr { get; init; }

    public ulong Star { get; init; }

    public ulong Lstar { get; init; }

    public ulong Cstar { get; init; }

    public ulong Sfmask { get; init; }

    public ulong KernelGsBase { get; init; }

    public ulong SysenterCs { get; init; }

    public ulong SysenterEsp { get; init; }

    public ulong SysenterEip { get; init; }

    public ulong TscAux { get; init; }

    public ulong Pat { get; init; }

    public ulong ApicBase { get; init; }

    public ulong MiscEnable { get; init; }

    /// <summary>What the guest wrote to IA32_TSC, as an offset from the machine clock's TSC.</summary>
    public long TscOffset { get; init; }

    /// <summary>MTRR MSRs the guest wrote, by MSR index.</summary>
    public IReadOnlyDictionary<uint, ulong> Mtrrs { get; init; } = new Dictionary<uint, ulong>();

    /// <summary>XMM0-15, two quadwords each (low first).</summary>
    public required IReadOnlyList<ulong> Xmm { get; init; }

    public uint Mxcsr { get; init; }

    public uint MxcsrMask { get; init; }

    public required IReadOnlyList<Float80SavedState> Fpr { get; init; }

    public ushort Fcw { get; init; }

    public ushort Fsw { get; init; }

    public ushort Ftw { get; init; }

    public ushort Fop { get; init; }

    public ulong Fip { get; init; }

    public ulong Fdp { get; init; }

    public int InterruptShadow { get; init; }

    public bool Halted { get; init; }

    public bool NmiBlocked { get; init; }

    public bool NmiPending { get; init; }

    /// <summary>An application processor that has not had its start-up IPI yet (or had INIT since).</summary>
    public bool WaitingForSipi { get; init; }

    public ulong InstructionCount { get; init; }

    /// <summary>The CPUID feature set the guest was shown (it must not change under a running kernel).</summary>
    public CpuFeatures Features { get; init; }
}

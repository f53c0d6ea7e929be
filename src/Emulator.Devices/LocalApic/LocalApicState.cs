namespace Emulator.Devices.Apic;

/// <summary>
/// A local APIC's saved state (snapshot section "lapic"). Vector sets are lists of vector
/// numbers, not bitmap words. The timer is saved as the machine-clock time its count started,
/// so it resumes consistently with the restored machine clock.
/// </summary>
public sealed record LocalApicState
{
    /// <summary>1: the first version (every field below).</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public ulong ApicBase { get; init; }

    public uint Id { get; init; }

    public uint Tpr { get; init; }

    public uint Ldr { get; init; }

    public uint Dfr { get; init; }

    public uint Svr { get; init; }

    /// <summary>The ESR as last latched by a write.</summary>
    public uint Esr { get; init; }

    /// <summary>Errors collected since the last ESR write.</summary>
    public uint PendingErrors { get; init; }

    public uint IcrLow { get; init; }

    public uint IcrHigh { get; init; }

    public uint LvtTimer { get; init; }

    public uint LvtThermal { get; init; }

    public uint LvtPerf { get; init; }

    public uint LvtLint0 { get; init; }

    public uint LvtLint1 { get; init; }

    public uint LvtError { get; init; }

    public uint LvtCmci { get; init; }

    public bool Lint0Level { get; init; }

    public bool Lint1Level { get; init; }

    /// <summary>Vectors set in the IRR.</summary>
    public IReadOnlyList<int> RequestedVectors { get; init; } = [];

    /// <summary>Vectors set in the ISR.</summary>
    public IReadOnlyList<int> InServiceVectors { get; init; } = [];

    /// <summary>Vectors set in the TMR (accepted level-triggered).</summary>
    public IReadOnlyList<int> LevelTriggeredVectors { get; init; } = [];

    public uint TimerInitialCount { get; init; }

    public uint TimerDivideConfig { get; init; }

    /// <summary>Machine-clock time (ns) at which the current count started.</summary>
    public long TimerStartNs { get; init; }

    public ulong TscDeadline { get; init; }

    public bool NmiPending { get; init; }

    public bool InitPending { get; init; }

    public bool WaitingForSipi { get; init; }

    /// <summary>Vector of a received SIPI not yet taken by the vCPU, or -1.</summary>
    public int StartupVector { get; init; } = -1;

    /// <summary>An ExtINT message is waiting for the PIC's acknowledge.</summary>
    public bool ExtIntPending { get; init; }
}

public sealed partial class LocalApic
{
    public LocalApicState SaveState() => new()
    {
        ApicBase = apicBase,
        Id = id,
        Tpr = tpr,
        Ldr = ldr,
        Dfr = dfr,
        Svr = svr,
        Esr = esr,
        PendingErrors = pendingErrors,
        IcrLow = icrLow,
        IcrHigh = icrHigh,
        LvtTimer = lvtTimer,
        LvtThermal = lvtThermal,
        LvtPerf = lvtPerf,
        LvtLint0 = lvtLint0,
        LvtLint1 = lvtLint1,
        LvtError = lvtError,
        LvtCmci = lvtCmci,
        Lint0Level = lint0Level,
        Lint1Level = lint1Level,
        RequestedVectors = Vectors(irr),
        InServiceVectors = Vectors(isr),
        LevelTriggeredVectors = Vectors(tmr),
        TimerInitialCount = initialCount,
        TimerDivideConfig = divideConfig,
        TimerStartNs = timerStartNs,
        TscDeadline = tscDeadline,
        NmiPending = nmiPending,
        InitPending = initPending,
        WaitingForSipi = WaitingForSipi,
        StartupVector = startupVector,
        ExtIntPending = extIntPending,
    };

    /// <summary>Restores a saved state (the machine clock must already be restored: the timer is re-armed from it).</summary>
    public void RestoreState(LocalApicState state)
    {
        if (state.Version is < 1 or > LocalApicState.CurrentVersion)
        {
            throw new ArgumentException($"local APIC state version {state.Version} is not supported (this build reads 1 to {LocalApicState.CurrentVersion})", nameof(state));
        }

        apicBase = (state.ApicBase & ~LocalApicRegisters.ApicBaseBsp) | (isBsp ? LocalApicRegisters.ApicBaseBsp : 0);
        id = state.Id;
        tpr = state.Tpr;
        ldr = state.Ldr;
        dfr = state.Dfr;
        svr = state.Svr;
        esr = state.Esr;
        pendingErrors = state.PendingErrors;
        icrLow = state.IcrLow;
        icrHigh = state.IcrHigh;
        lvtTimer = state.LvtTimer;
        lvtThermal = state.LvtThermal;
        lvtPerf = state.LvtPerf;
        lvtLint0 = state.LvtLint0;
        lvtLint1 = state.LvtLint1;
        lvtError = state.LvtError;
        lvtCmci = state.LvtCmci;
        lint0Level = state.Lint0Level;
        lint1Level = state.Lint1Level;
        LoadVectors(irr, state.RequestedVectors);
        LoadVectors(isr, state.InServiceVectors);
        LoadVectors(tmr, state.LevelTriggeredVectors);
        initialCount = state.TimerInitialCount;
        divideConfig = state.TimerDivideConfig;
        timerStartNs = state.TimerStartNs;
        tscDeadline = state.TscDeadline;
        nmiPending = state.NmiPending;
        initPending = state.InitPending;
        WaitingForSipi = state.WaitingForSipi;
        startupVector = state.StartupVector;
        extIntPending = state.ExtIntPending;

        long now = nowNs();
        if (TscDeadlineMode)
        {
            ArmTscDeadline(now);
        }
        else
        {
            ArmCountdown(now);
        }
    }

    private static int[] Vectors(uint[] map)
    {
        var list = new List<int>();
        for (int v = 0; v < 256; v++)
        {
            if (GetBit(map, v))
            {
                list.Add(v);
            }
        }

        return [.. list];
    }

    private static void LoadVectors(uint[] map, IReadOnlyList<int> vectors)
    {
        Array.Clear(map);
        foreach (int v in vectors)
        {
            SetBit(map, v & 0xFF, true);
        }
    }
}

namespace Emulator.Devices.AcpiPm;

/// <summary>
/// Saved state of <see cref="AcpiPmDevice"/>. The PM timer is not saved: it is a pure function
/// of the machine clock, which is saved with the machine.
/// </summary>
public sealed record AcpiPmState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>PM1a_STS (since version 1).</summary>
    public ushort Pm1Status { get; init; }

    /// <summary>PM1a_EN (since version 1).</summary>
    public ushort Pm1Enable { get; init; }

    /// <summary>PM1a_CNT as it reads back (SCI_EN, BM_RLD, SLP_TYP) (since version 1).</summary>
    public ushort Pm1Control { get; init; }
}

/// <summary>Saved state of <see cref="ResetControlDevice"/>.</summary>
public sealed record ResetControlState
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The readable bits of RST_CNT (SYS_RST, FULL_RST) (since version 1).</summary>
    public byte Value { get; init; }
}

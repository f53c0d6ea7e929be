namespace Emulator.Devices.Pic;

/// <summary>Saved state of one 8259A of the pair.</summary>
public sealed record Pic8259ChipState
{
    public byte Irr { get; init; }
    public byte Isr { get; init; }
    public byte Imr { get; init; }
    public byte Elcr { get; init; }

    /// <summary>Input line levels (for edge detection).</summary>
    public byte Lines { get; init; }

    public byte VectorBase { get; init; }
    public int LowestPriority { get; init; }
    public int InitStep { get; init; }
    public bool ExpectIcw4 { get; init; }
    public bool SingleMode { get; init; }
    public bool LevelTriggeredMode { get; init; }
    public bool AutoEoi { get; init; }
    public bool RotateOnAutoEoi { get; init; }
    public bool SpecialFullyNested { get; init; }
    public bool SpecialMask { get; init; }
    public bool ReadIsr { get; init; }
    public bool Poll { get; init; }
}

/// <summary>Saved state of a <see cref="Pic8259Pair"/> (snapshot section "pic").</summary>
public sealed record Pic8259PairState
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public required Pic8259ChipState Master { get; init; }
    public required Pic8259ChipState Slave { get; init; }
}

namespace Emulator.Devices.Pit;

/// <summary>Saved state of one 8254 counter.</summary>
public sealed record PitChannelState
{
    public int Mode { get; init; }
    public int Access { get; init; }
    public bool Bcd { get; init; }
    public bool Gate { get; init; }
    public int CountRegister { get; init; }
    public bool CountWritten { get; init; }
    public bool LsbWritten { get; init; }
    public byte LsbLatch { get; init; }
    public bool ReadMsbNext { get; init; }
    public bool CountLatched { get; init; }
    public int LatchedCount { get; init; }
    public bool LatchedMsbNext { get; init; }
    public bool StatusLatched { get; init; }
    public byte LatchedStatus { get; init; }
    public bool NullCount { get; init; }
    public bool Counting { get; init; }

    /// <summary>Machine time (ns) at which the counting element held <see cref="StartValue"/>.</summary>
    public long StartNs { get; init; }

    public int StartValue { get; init; }
    public int FrozenValue { get; init; }
    public bool TerminalDone { get; init; }

    /// <summary>Modes 2 and 3: a count written while counting, loaded at <see cref="ReloadNs"/>.</summary>
    public bool ReloadPending { get; init; }

    public long ReloadNs { get; init; }
    public int ReloadValue { get; init; }
}

/// <summary>Saved state of a <see cref="Pit8254"/> and port 0x61 (snapshot section "pit").</summary>
public sealed record Pit8254State
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public required PitChannelState Counter0 { get; init; }
    public required PitChannelState Counter1 { get; init; }
    public required PitChannelState Counter2 { get; init; }

    /// <summary>Port 0x61 bits 3:0 as last written.</summary>
    public byte PortB { get; init; }

    public bool RefreshToggle { get; init; }
}

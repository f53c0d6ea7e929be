namespace Emulator.Devices.Apic;

/// <summary>The I/O APIC's saved state (snapshot section "ioapic").</summary>
public sealed record IoApicState
{
    /// <summary>1: the first version (every field below).</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>IOAPICID register (ID in bits 27:24).</summary>
    public uint Id { get; init; }

    /// <summary>The register IOREGSEL selects.</summary>
    public uint IoRegSel { get; init; }

    public IReadOnlyList<IoApicPinState> Pins { get; init; } = [];
}

/// <summary>One input pin: its redirection entry (with Remote IRR) and the electrical level of its input.</summary>
public sealed record IoApicPinState
{
    public int Pin { get; init; }

    public ulong Entry { get; init; }

    public bool Level { get; init; }
}

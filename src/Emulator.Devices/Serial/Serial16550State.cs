namespace Emulator.Devices.Serial;

/// <summary>Saved state of a <see cref="Serial16550"/> (snapshot section "serial16550").</summary>
public sealed record Serial16550State
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public byte Ier { get; init; }
    public byte Lcr { get; init; }
    public byte Mcr { get; init; }
    public byte Lsr { get; init; }
    public byte Msr { get; init; }
    public byte Scr { get; init; }
    public byte Fcr { get; init; }
    public byte DivisorLow { get; init; }
    public byte DivisorHigh { get; init; }

    /// <summary>The THR-empty interrupt is pending (cleared by reading IIR or writing THR).</summary>
    public bool ThrEmptyPending { get; init; }

    /// <summary>Received bytes not yet read, oldest first.</summary>
    public byte[] ReceiveFifo { get; init; } = [];
}

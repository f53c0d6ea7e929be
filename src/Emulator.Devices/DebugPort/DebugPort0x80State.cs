namespace Emulator.Devices.DebugPort;

/// <summary>Saved state of a <see cref="DebugPort0x80"/> (snapshot section "port80").</summary>
public sealed record DebugPort0x80State
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public byte LastPostCode { get; init; }
    public long Writes { get; init; }
}

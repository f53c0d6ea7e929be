namespace Emulator.Devices.FwCfg;

/// <summary>
/// Saved state of a <see cref="FwCfgDevice"/> (snapshot section "fw_cfg"): only where the guest
/// is reading. The items themselves are configuration, rebuilt from the machine's config.
/// </summary>
public sealed record FwCfgState
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    public ushort Selector { get; init; }

    public uint Offset { get; init; }
}

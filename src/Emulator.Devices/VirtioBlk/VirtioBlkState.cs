namespace Emulator.Devices.VirtioBlk;

/// <summary>
/// Saved state of a <see cref="VirtioBlk"/> (snapshot section "virtio-blk"), beside its
/// transport's <see cref="Virtio.VirtioMmioState"/>. The device keeps no register state of its
/// own; a snapshot is taken only with no request in flight (<see cref="VirtioBlk.InFlight"/> 0).
/// </summary>
public sealed record VirtioBlkState
{
    public const int CurrentVersion = 1;

    /// <summary>Section version; 1 added every field below.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The size the guest last saw, in sectors, to detect an image resized while saved.</summary>
    public ulong CapacitySectors { get; init; }

    public long MalformedChains { get; init; }
}

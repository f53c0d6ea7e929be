using Emulator.Machine.Block;

namespace Emulator.Machine.Snapshots;

/// <summary>The disk side of snapshots: freezing a live disk under a new overlay, and a new overlay for a restored machine.</summary>
internal static class DiskLayers
{
    public static Task<string> FreezeAsync(BlockBackendClient disk, string newOverlayPath) =>
        throw new NotSupportedException("snapshots of machines with writable disks are not implemented yet (copy-on-write overlays)");

    public static void CreateOverlay(string overlayPath, string backingPath) =>
        throw new NotSupportedException("snapshots of machines with writable disks are not implemented yet (copy-on-write overlays)");
}

using Emulator.Devices.State;
using Emulator.Devices.Virtio;

namespace Emulator.Devices.VirtioBlk;

public sealed partial class VirtioBlk
{
    /// <summary>The capacity the guest last saw, as loaded from a saved state; compared after the load.</summary>
    private ulong savedCapacity;

    /// <summary>
    /// Saved state, inside its transport's section (field Device, since virtio-mmio version 2).
    /// The device keeps no register state of its own; a snapshot is taken only with no request in
    /// flight (<see cref="InFlight"/> 0). CapacitySectors is the size the guest last saw: an
    /// image resized while saved makes the device announce a configuration change (virtio 1.1, 5.2.6).
    /// </summary>
    public static StateDescription<VirtioBlk> SavedState { get; } = new StateDescription<VirtioBlk>("virtio-blk", version: 2)
        .Int("CapacitySectors", b => b.CapacitySectors, (b, v) => b.savedCapacity = v)
        .Int("MalformedChains", b => b.MalformedChains, (b, v) => b.MalformedChains = v, StateRule.Within(0, long.MaxValue))
        .AfterLoad(b =>
        {
            if (b.savedCapacity != b.CapacitySectors && b.transport is not null)
            {
                b.transport.ConfigChanged();
            }
        });

    IStateShape? IVirtioDevice.SavedState => SavedState;
}

using Emulator.Devices.State;

namespace Emulator.Devices.FwCfg;

public sealed partial class FwCfgDevice
{
    /// <summary>
    /// Saved state (section "fw_cfg"): only where the guest is reading. The items themselves are
    /// configuration, rebuilt from the machine's config. Version 1: every field.
    /// </summary>
    public static StateDescription<FwCfgDevice> SavedState { get; } = new StateDescription<FwCfgDevice>("fw_cfg", version: 1)
        .Int("Selector", d => d.selector, (d, v) => d.selector = v)
        .Int("Offset", d => d.offset, (d, v) => d.offset = v);
}

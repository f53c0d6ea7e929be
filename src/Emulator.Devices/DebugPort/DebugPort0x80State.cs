using Emulator.Devices.State;

namespace Emulator.Devices.DebugPort;

public sealed partial class DebugPort0x80
{
    /// <summary>Saved state (section "port80"). Version 1: every field.</summary>
    public static StateDescription<DebugPort0x80> SavedState { get; } = new StateDescription<DebugPort0x80>("port80", version: 1)
        .Int("LastPostCode", d => d.LastPostCode, (d, v) => d.LastPostCode = v)
        .Int("Writes", d => d.Writes, (d, v) => d.Writes = v, StateRule.Within(0, long.MaxValue));
}

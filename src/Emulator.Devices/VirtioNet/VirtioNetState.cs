using Emulator.Devices.State;
using Emulator.Devices.Virtio;

namespace Emulator.Devices.VirtioNet;

public sealed partial class VirtioNet
{
    /// <summary>
    /// Saved state, inside its transport's section (field Device; the transport saves both queues).
    /// Version 1: Mac, which must be the address the device was built with (the machine section
    /// records it and the restore builds the device with it; a mismatch is a foreign file), and the
    /// counters. A snapshot is taken with no frame at the backend (<see cref="TransmitBytesInFlight"/>
    /// 0); frames held for want of receive buffers are not saved: a restored device starts with
    /// none, as if they had been dropped on the wire.
    /// </summary>
    public static StateDescription<VirtioNet> SavedState { get; } = new StateDescription<VirtioNet>("virtio-net", version: 1)
        .Int("Mac", n => n.Mac.ToUInt64(), (n, v) => { },
            StateRule.Where<VirtioNet>((n, v) => (ulong)v == n.Mac.ToUInt64(), n => $"the MAC address the device has ({n.Mac})"))
        .Int("TransmittedFrames", n => n.TransmittedFrames, (n, v) => n.TransmittedFrames = v, StateRule.Within(0, long.MaxValue))
        .Int("ReceivedFrames", n => n.ReceivedFrames, (n, v) => n.ReceivedFrames = v, StateRule.Within(0, long.MaxValue))
        .Int("DroppedNoBuffer", n => n.DroppedNoBuffer, (n, v) => n.DroppedNoBuffer = v, StateRule.Within(0, long.MaxValue))
        .Int("MalformedChains", n => n.MalformedChains, (n, v) => n.MalformedChains = v, StateRule.Within(0, long.MaxValue))
        .AfterLoad(n => n.held.Clear());

    IStateShape? IVirtioDevice.SavedState => SavedState;
}

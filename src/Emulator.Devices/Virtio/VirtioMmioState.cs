using Emulator.Devices.State;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;

namespace Emulator.Devices.Virtio;

public sealed partial class VirtioMmioTransport
{
    /// <summary>
    /// Saved state (section "virtio-mmio"). Version 1: the transport's registers and its queues;
    /// version 2 adds Device, the state of the virtio device behind the transport (a version 1
    /// section leaves the device as it was built). Requests in flight at the backend are not part
    /// of it: the machine saves a virtio device only once its backend is idle. Checked as
    /// strictly as the driver's register writes: every queue of the device, in order, each with
    /// a valid size; negotiated features only ones offered, with VERSION_1 (virtio 1.1, 6.1).
    /// </summary>
    public static StateDescription<VirtioMmioTransport> SavedState { get; } = new StateDescription<VirtioMmioTransport>("virtio-mmio", version: 2)
        .Int("Status", t => t.status, (t, v) => t.status = v)
        .Int("DeviceFeaturesSel", t => t.deviceFeaturesSel, (t, v) => t.deviceFeaturesSel = v)
        .Int("DriverFeatures", t => t.driverFeatures, (t, v) => t.driverFeatures = v)
        .Int("DriverFeaturesSel", t => t.driverFeaturesSel, (t, v) => t.driverFeaturesSel = v)
        .Int("QueueSel", t => t.queueSel, (t, v) => t.queueSel = v)
        .Int("InterruptStatus", t => t.interruptStatus, (t, v) => t.interruptStatus = v, StateRule.Bits(InterruptUsedBuffer | InterruptConfigChange))
        .Int("ConfigGeneration", t => t.configGeneration, (t, v) => t.configGeneration = v)
        .Structs("Queues", t => t.queues, VirtQueue.SavedState)
        .Part("Device", t => t.device, t => t.device.SavedState, since: 2)
        .Check("DriverFeatures", (t, s) =>
            (s.Get<uint>("Status") & StatusFeaturesOk) != 0
            && ((s.Get<ulong>("DriverFeatures") & ~t.OfferedFeatures) != 0 || (s.Get<ulong>("DriverFeatures") & (1UL << FeatureVersion1)) == 0)
                ? $"features offered (0x{t.OfferedFeatures:x}), with VERSION_1, once FEATURES_OK is set"
                : null)
        .AfterLoad(t => t.UpdateIrq());
}

public sealed partial class VirtQueue
{
    /// <summary>One virtqueue, in its transport's section; Index is its position. Size: a power of 2 from 1 to the queue's maximum (virtio 1.1, 2.6), never 0.</summary>
    public static StateDescription<VirtQueue> SavedState { get; } = new StateDescription<VirtQueue>("virtqueue", version: 2)
        .Position("Index")
        .Int("Size", q => q.Size, (q, v) => q.Size = v,
            StateRule.Where<VirtQueue>((q, v) => IsValidSize((uint)v, q.MaxSize), q => $"a power of 2 from 1 to {q.MaxSize} (the queue's maximum)"))
        .Flag("Ready", q => q.Ready, (q, v) => q.Ready = v)
        .Int("DescTable", q => q.DescTable, (q, v) => q.DescTable = v)
        .Int("AvailRing", q => q.AvailRing, (q, v) => q.AvailRing = v)
        .Int("UsedRing", q => q.UsedRing, (q, v) => q.UsedRing = v)
        .Int("LastAvailIdx", q => q.LastAvailIdx, (q, v) => q.LastAvailIdx = v)
        .Int("UsedIdx", q => q.UsedIdx, (q, v) => q.UsedIdx = v)
        .Int("SignalledUsed", q => q.SignalledUsed, (q, v) => q.SignalledUsed = v)
        .Flag("SignalledUsedValid", q => q.SignalledUsedValid, (q, v) => q.SignalledUsedValid = v)
        .Flag("Broken", q => q.Broken, (q, v) => q.Broken = v);
}

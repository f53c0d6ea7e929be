using Emulator.Devices.Bus;
using static Emulator.Devices.Virtio.VirtioMmioRegisters;

namespace Emulator.Devices.Virtio;

/// <summary>
/// The virtio-mmio transport, version 2 (virtio 1.1 section 4.2): the register window of one
/// virtio device at a fixed MMIO base, with a level-triggered interrupt line asserted while
/// InterruptStatus is non-zero. Legacy (version 1) is not offered, so VIRTIO_F_VERSION_1 is
/// required (6.1: a device refuses FEATURES_OK without it). VIRTIO_F_INDIRECT_DESC and
/// VIRTIO_F_EVENT_IDX are offered for every device. Not thread-safe (see <see cref="IIoDevice"/>).
/// </summary>
public sealed partial class VirtioMmioTransport : IIoDevice, IVirtioTransport
{
    private const ulong TransportFeatures = (1UL << FeatureVersion1) | (1UL << FeatureRingIndirectDesc) | (1UL << FeatureRingEventIdx);

    private readonly IVirtioDevice device;
    private readonly IInterruptLine irq;
    private readonly VirtQueue[] queues;

    private uint status;
    private uint deviceFeaturesSel;
    private ulong driverFeatures;
    private uint driverFeaturesSel;
    private uint queueSel;
    private uint interruptStatus;
    private uint configGeneration;

    public VirtioMmioTransport(IVirtioDevice device, IGuestMemoryAccess memory, IInterruptLine irq, string name = "virtio-mmio")
    {
        this.device = device;
        this.irq = irq;
        Memory = memory;
        Name = name;
        queues = device.QueueMaxSizes.Select((max, i) => new VirtQueue(i, max)).ToArray();
        device.Attach(this);
    }

    public string Name { get; }

    public UnexpectedAccesses Unexpected { get; } = new();

    public IGuestMemoryAccess Memory { get; }

    /// <summary>Every feature bit offered: the device's and the transport's.</summary>
    public ulong OfferedFeatures => device.DeviceFeatures | TransportFeatures;

    public ulong DriverFeatures => driverFeatures;

    public uint Status => status;

    public uint InterruptStatusValue => interruptStatus;

    /// <summary>DRIVER_OK after an accepted FEATURES_OK, and no DEVICE_NEEDS_RESET: the device may use its queues (3.1.1).</summary>
    public bool DriverOk => (status & (StatusDriverOk | StatusFeaturesOk | StatusDeviceNeedsReset)) == (StatusDriverOk | StatusFeaturesOk);

    public IReadOnlyList<VirtQueue> Queues => queues;

    public bool HasFeature(int bit) => (driverFeatures & (1UL << bit)) != 0;

    public ulong Read(ulong offset, int size)
    {
        if (offset >= Config)
        {
            if (device.ReadConfig((int)(offset - Config), size, out ulong value))
            {
                return value;
            }

            Unexpected.Record(Name, $"config read at 0x{offset:x} size {size}");
            return 0;
        }

        // 4.2.2.2: the driver MUST use 32-bit wide and aligned accesses to the common registers.
        if (size != 4 || (offset & 3) != 0)
        {
            Unexpected.Record(Name, $"read at 0x{offset:x} size {size}");
            return 0;
        }

        var q = SelectedQueue;
        switch (offset)
        {
            case MagicValue: return Magic;
            case VirtioMmioRegisters.Version: return TransportVersion;
            case DeviceId: return device.DeviceType;
            case VendorId: return Vendor;
            case DeviceFeatures: return deviceFeaturesSel < 2 ? (uint)(OfferedFeatures >> (int)(32 * deviceFeaturesSel)) : 0;
            case QueueNumMax: return q?.MaxSize ?? 0u;
            case QueueReady: return q is { Ready: true } ? 1u : 0u;
            case InterruptStatus: return interruptStatus;
            case VirtioMmioRegisters.Status: return status;
            case ConfigGeneration: return configGeneration;
            default:
                Unexpected.Record(Name, $"read of 0x{offset:x}");
                return 0;
        }
    }

    public void Write(ulong offset, int size, ulong value)
    {
        if (offset >= Config)
        {
            if (!device.WriteConfig((int)(offset - Config), size, value))
            {
                Unexpected.Record(Name, $"config write at 0x{offset:x} size {size}");
            }

            return;
        }

        if (size != 4 || (offset & 3) != 0)
        {
            Unexpected.Record(Name, $"write at 0x{offset:x} size {size}");
            return;
        }

        uint v = (uint)value;
        switch (offset)
        {
            case DeviceFeaturesSel: deviceFeaturesSel = v; break;
            case DriverFeaturesSel: driverFeaturesSel = v; break;
            case VirtioMmioRegisters.DriverFeatures: WriteDriverFeatures(v); break;
            case QueueSel: queueSel = v; break;
            case QueueNum: WriteQueueNum(v); break;
            case QueueReady: WriteQueueReady(v); break;
            case QueueDescLow: SetQueueAddress(offset, q => q.DescTable = q.DescTable & ~0xFFFF_FFFFUL | v); break;
            case QueueDescHigh: SetQueueAddress(offset, q => q.DescTable = q.DescTable & 0xFFFF_FFFFUL | (ulong)v << 32); break;
            case QueueDriverLow: SetQueueAddress(offset, q => q.AvailRing = q.AvailRing & ~0xFFFF_FFFFUL | v); break;
            case QueueDriverHigh: SetQueueAddress(offset, q => q.AvailRing = q.AvailRing & 0xFFFF_FFFFUL | (ulong)v << 32); break;
            case QueueDeviceLow: SetQueueAddress(offset, q => q.UsedRing = q.UsedRing & ~0xFFFF_FFFFUL | v); break;
            case QueueDeviceHigh: SetQueueAddress(offset, q => q.UsedRing = q.UsedRing & 0xFFFF_FFFFUL | (ulong)v << 32); break;
            case VirtioMmioRegisters.QueueNotify: Notify(v); break;
            case InterruptAck:
                interruptStatus &= ~v;
                UpdateIrq();
                break;
            case VirtioMmioRegisters.Status: WriteStatus(v); break;
            default:
                Unexpected.Record(Name, $"write of 0x{offset:x}");
                break;
        }
    }

    public void SignalUsed(VirtQueue queue)
    {
        if (queue.ShouldInterrupt(Memory, HasFeature(FeatureRingEventIdx)))
        {
            interruptStatus |= InterruptUsedBuffer;
            UpdateIrq();
        }
    }

    public void ConfigChanged()
    {
        configGeneration++;
        if ((status & StatusDriverOk) != 0)
        {
            interruptStatus |= InterruptConfigChange;
            UpdateIrq();
        }
    }

    public void NeedsReset()
    {
        status |= StatusDeviceNeedsReset;
        if ((status & StatusDriverOk) != 0)
        {
            // 2.1.2: with DRIVER_OK set, the device MUST send a configuration change notification.
            interruptStatus |= InterruptConfigChange;
            UpdateIrq();
        }
    }

    private VirtQueue? SelectedQueue => queueSel < queues.Length ? queues[queueSel] : null;

    private void WriteDriverFeatures(uint v)
    {
        // 3.1.1: features are negotiated before FEATURES_OK; later writes change nothing.
        if ((status & StatusFeaturesOk) != 0 || driverFeaturesSel >= 2)
        {
            Unexpected.Record(Name, "DriverFeatures write after FEATURES_OK or with DriverFeaturesSel > 1");
            return;
        }

        int shift = (int)(32 * driverFeaturesSel);
        driverFeatures = driverFeatures & ~(0xFFFF_FFFFUL << shift) | (ulong)v << shift;
    }

    private void WriteQueueNum(uint v)
    {
        var q = SelectedQueue;

        // 2.6: a split queue's size is a power of 2; 4.2.2.3: at most QueueNumMax, set while not ready.
        if (q is null || q.Ready || !VirtQueue.IsValidSize(v, q.MaxSize))
        {
            Unexpected.Record(Name, $"QueueNum {v} for queue {queueSel}");
            return;
        }

        q.Size = (ushort)v;
    }

    private void WriteQueueReady(uint v)
    {
        var q = SelectedQueue;
        if (q is null)
        {
            Unexpected.Record(Name, $"QueueReady for missing queue {queueSel}");
            return;
        }

        q.Ready = (v & 1) != 0;
    }

    private void SetQueueAddress(ulong offset, Action<VirtQueue> set)
    {
        var q = SelectedQueue;

        // 4.2.2.3: the driver writes the addresses only while the queue is not ready.
        if (q is null || q.Ready)
        {
            Unexpected.Record(Name, $"queue address write at 0x{offset:x} to a ready or missing queue");
            return;
        }

        set(q);
    }

    private void Notify(uint v)
    {
        if (v >= queues.Length)
        {
            Unexpected.Record(Name, $"QueueNotify {v}");
            return;
        }

        // Notifications before DRIVER_OK, or to a queue not ready, have nothing to act on.
        var q = queues[v];
        if (DriverOk && q.Ready)
        {
            device.QueueNotify(q);
        }
    }

    private void WriteStatus(uint v)
    {
        if (v == 0)
        {
            Reset();
            return;
        }

        // 2.1.1: the driver MUST NOT clear a status bit; only a reset does.
        if ((v & status) != status)
        {
            Unexpected.Record(Name, $"Status write 0x{v:x} clears bits of 0x{status:x}");
        }

        if ((v & StatusFeaturesOk) != 0 && (status & StatusFeaturesOk) == 0 && !FeaturesAcceptable())
        {
            // 3.1.1 step 6: the driver re-reads Status; FEATURES_OK still clear means refused.
            v &= ~StatusFeaturesOk;
        }

        status = v | (status & StatusDeviceNeedsReset);
    }

    private bool FeaturesAcceptable() =>
        (driverFeatures & ~OfferedFeatures) == 0 && (driverFeatures & (1UL << FeatureVersion1)) != 0;

    /// <summary>Device reset (2.1, 4.2.3.1: writing 0 to Status): every register back to its initial value.</summary>
    public void Reset()
    {
        status = 0;
        deviceFeaturesSel = driverFeaturesSel = queueSel = 0;
        driverFeatures = 0;
        interruptStatus = 0;
        foreach (var q in queues)
        {
            q.Reset();
        }

        device.Reset();
        UpdateIrq();
    }

    private void UpdateIrq() => irq.Set(interruptStatus != 0);

}

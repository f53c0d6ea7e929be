using Emulator.Devices.State;

namespace Emulator.Machine.Runtime;

/// <summary>
/// How a device's state is saved and restored for snapshots (and later migration): through the
/// one description of its state (<see cref="IDeviceStateDescription"/>: fields, version,
/// constraints), always inside the device's actor. <see cref="Busy"/> says whether the device
/// still has work under way (a disk request in flight) that must finish before its state means anything.
/// </summary>
public sealed record DevicePersistence(IDeviceStateDescription State, Func<object, bool>? Busy = null)
{
    /// <summary>
    /// A device added after snapshots were taken whose state as built is right for them (fw_cfg:
    /// configuration and a read position): a snapshot without its section restores, the device as
    /// built. Every other device must be in the snapshot.
    /// </summary>
    public bool MayBeAbsent { get; init; }

    public static DevicePersistence Of<TDevice>(StateDescription<TDevice> state, Func<TDevice, bool>? busy = null) =>
        new(state, busy is null ? null : d => busy((TDevice)d));
}

/// <summary>A device's saved state as captured: its name, the section version and the section payload its description wrote.</summary>
public sealed record DeviceSavedState(string Name, int Version, byte[] Payload);

/// <summary>Everything of a machine a snapshot holds apart from RAM, disks and configuration.</summary>
public sealed record MachineSavedState(long ClockNanoseconds, IReadOnlyList<X86.State.CpuSavedState> Cpus, IReadOnlyList<DeviceSavedState> Devices);

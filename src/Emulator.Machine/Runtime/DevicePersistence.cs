namespace Emulator.Machine.Runtime;

/// <summary>
/// How a device's state is saved and restored for snapshots: through its own saved-state record
/// (a type separate from the live device, with a version), always inside the device's actor.
/// <see cref="Busy"/> says whether the device still has work under way (a disk request in
/// flight) that must finish before its state means anything.
/// </summary>
public sealed record DevicePersistence(Type StateType, int Version, Func<object, object> Save, Action<object, object> Restore, Func<object, bool>? Busy = null)
{
    public static DevicePersistence Of<TDevice, TState>(int version, Func<TDevice, TState> save, Action<TDevice, TState> restore, Func<TDevice, bool>? busy = null)
        where TState : class =>
        new(typeof(TState), version, d => save((TDevice)d), (d, s) => restore((TDevice)d, (TState)s), busy is null ? null : d => busy((TDevice)d));
}

/// <summary>A device's saved state as captured: its name, the section version and the state record.</summary>
public sealed record DeviceSavedState(string Name, int Version, object State);

/// <summary>Everything of a machine a snapshot holds apart from RAM, disks and configuration.</summary>
public sealed record MachineSavedState(long ClockNanoseconds, IReadOnlyList<X86.State.CpuSavedState> Cpus, IReadOnlyList<DeviceSavedState> Devices);

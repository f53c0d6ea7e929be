using System.Text.Json;

namespace Emulator.Devices.State;

/// <summary>
/// A device's saved state, described once (<see cref="StateDescription{TDevice}"/>): what
/// snapshots, and later migration, call to save a device and to put a saved state back. Both run
/// inside the device's actor.
/// </summary>
public interface IDeviceStateDescription : IStateShape
{
    /// <summary>What the state is of ("pit", "virtio-mmio"), for errors when no device name is given.</summary>
    string Name { get; }

    /// <summary>The section version this build writes.</summary>
    int Version { get; }

    /// <summary>The oldest section version this build reads.</summary>
    int MinVersion { get; }

    Type DeviceType { get; }

    /// <summary>The device's state as a section payload of <see cref="Version"/> (a copy: the device may go on changing).</summary>
    byte[] Save(object device);

    /// <summary>
    /// Reads a section payload of <paramref name="version"/> and checks every field against its
    /// constraints and against <paramref name="device"/> (array lengths, limits the device was
    /// built with), changing nothing. Throws <see cref="DeviceStateException"/> naming
    /// <paramref name="deviceName"/>, the field, the value and the constraint. The returned
    /// restore, applied, puts the state in and runs the post-load hooks.
    /// </summary>
    IPendingRestore Load(object device, int version, ReadOnlySpan<byte> payload, string? deviceName = null);
}

/// <summary>A saved state that passed every check, ready to be put into its device.</summary>
public interface IPendingRestore
{
    /// <summary>Sets every field, then runs the post-load hooks (derived state: timers, IRQ levels). Not to be called twice.</summary>
    void Apply();
}

/// <summary>A described object (a device or a part of one) as a JSON object inside a section.</summary>
public interface IStateShape
{
    void WriteObject(Utf8JsonWriter writer, object target, int position);

    /// <summary>Reads and checks the object <paramref name="element"/>; returns what applies it.</summary>
    Action ReadObject(JsonElement element, object target, in LoadContext context);
}

/// <summary>Where a load is: the device (for errors), the section version, the field path so far, and the element's position in its list.</summary>
public readonly record struct LoadContext(string Device, int Version, string Path, int Position)
{
    public DeviceStateException Fail(string field, string value, string constraint) => new(Device, Path + field, value, constraint);

    public LoadContext Enter(string path, int position) => this with { Path = Path + path, Position = position };
}

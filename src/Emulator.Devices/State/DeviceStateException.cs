namespace Emulator.Devices.State;

/// <summary>
/// A saved device state that a restore refuses: which device, which field (a path such as
/// <c>Queues[1].Size</c>), the value it had and the constraint it broke. Nothing has been applied
/// when this is thrown (see <see cref="IDeviceStateDescription.Load"/>).
/// </summary>
public sealed class DeviceStateException(string device, string field, string value, string constraint)
    : Exception($"{device}: {field}{(value.Length > 0 ? " = " + value : "")} is refused: {constraint}")
{
    public string Device { get; } = device;

    public string Field { get; } = field;

    public string Value { get; } = value;

    public string Constraint { get; } = constraint;
}

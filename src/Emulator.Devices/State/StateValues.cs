namespace Emulator.Devices.State;

/// <summary>The decoded values of one described object, by field name, for cross-field checks before anything is applied.</summary>
public sealed class StateValues
{
    private readonly Dictionary<string, object?> values = [];

    internal void Set(string name, object? value) => values[name] = value;

    /// <summary>The value of an integer or flag field as loaded (or its default, for a field newer than the section).</summary>
    public T Get<T>(string name) => values.TryGetValue(name, out var v) && v is T t
        ? t
        : throw new InvalidOperationException($"the state has no {typeof(T).Name} field '{name}'");
}

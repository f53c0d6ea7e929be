using System.Buffers;
using System.Numerics;
using System.Text.Json;

namespace Emulator.Devices.State;

/// <summary>
/// The saved state of a device (or of a part of one), described once, as QEMU's
/// VMStateDescription: the section version, each field with how to read and set it on the live
/// object, the version that added it (with the default an older section means) and the
/// constraints a loaded value must meet; cross-field checks; and a post-load hook that recomputes
/// derived state (timers, interrupt lines). Saving and loading are driven by this table alone
/// (see RATIONALE.md): a load checks every field of every part before it sets any.
/// </summary>
public sealed class StateDescription<TDevice> : IDeviceStateDescription
{
    private readonly List<StateField<TDevice>> fields = [];
    private readonly List<(string Field, Func<TDevice, StateValues, string?> Violation)> checks = [];
    private Action<TDevice>? afterLoad;
    private Action<TDevice>? beforeSave;

    /// <param name="name">What the state is of, for errors ("pit").</param>
    /// <param name="version">The section version this build writes.</param>
    /// <param name="minVersion">The oldest section version this build reads.</param>
    public StateDescription(string name, int version = 1, int minVersion = 1)
    {
        if (minVersion < 1 || version < minVersion)
        {
            throw new ArgumentOutOfRangeException(nameof(version), $"{name}: versions {minVersion} to {version}");
        }

        Name = name;
        Version = version;
        MinVersion = minVersion;
    }

    public string Name { get; }

    public int Version { get; }

    public int MinVersion { get; }

    public Type DeviceType => typeof(TDevice);

    /// <summary>An integer field (u8 to u64, i32, i64; JSON number). Its type's range is checked, then <paramref name="rule"/>.</summary>
    public StateDescription<TDevice> Int<T>(string name, Func<TDevice, T> get, Action<TDevice, T> set, StateRule? rule = null, int since = 1, T fallback = default)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        Add(new IntField<TDevice, T>(name, get, set, rule, since, fallback));

    public StateDescription<TDevice> Flag(string name, Func<TDevice, bool> get, Action<TDevice, bool> set, int since = 1, bool fallback = false) =>
        Add(new FlagField<TDevice>(name, get, set, since, fallback));

    /// <summary>Bytes (base64), of exactly <paramref name="length"/> or at most <paramref name="maxLength"/> (-1: no such limit).</summary>
    public StateDescription<TDevice> Bytes(string name, Func<TDevice, byte[]> get, Action<TDevice, byte[]> set, int length = -1, int maxLength = -1, int since = 1) =>
        Add(new BytesField<TDevice>(name, get, set, length, maxLength, since));

    /// <summary>A list of integers, each checked with <paramref name="each"/>.</summary>
    public StateDescription<TDevice> Ints<T>(string name, Func<TDevice, T[]> get, Action<TDevice, T[]> set, StateRule? each = null, int length = -1, int maxLength = -1, int since = 1)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        Add(new IntListField<TDevice, T>(name, get, set, each, length, maxLength, since));

    /// <summary>A part described by <paramref name="shape"/> (a counter of the PIT).</summary>
    public StateDescription<TDevice> Struct<TPart>(string name, Func<TDevice, TPart> get, StateDescription<TPart> shape, int since = 1)
        where TPart : class =>
        Add(new ObjectField<TDevice>(name, get, _ => shape, since));

    /// <summary>A part whose description the device supplies, or null when it has no state (the virtio device behind a transport).</summary>
    public StateDescription<TDevice> Part(string name, Func<TDevice, object> get, Func<TDevice, IStateShape?> shape, int since = 1) =>
        Add(new ObjectField<TDevice>(name, get, shape, since));

    /// <summary>One element per part the device has (its virtqueues): a saved list of another length is refused.</summary>
    public StateDescription<TDevice> Structs<TPart>(string name, Func<TDevice, IReadOnlyList<TPart>> items, StateDescription<TPart> shape, int since = 1)
        where TPart : class =>
        Add(new ObjectListField<TDevice>(name, d => items(d), shape, since));

    /// <summary>In the description of a list element: its position, which a load requires to match.</summary>
    public StateDescription<TDevice> Position(string name) => Add(new PositionField<TDevice>(name));

    /// <summary>A cross-field check on the loaded values, before anything is applied: <paramref name="violation"/> returns what <paramref name="field"/> must be, or null.</summary>
    public StateDescription<TDevice> Check(string field, Func<TDevice, StateValues, string?> violation)
    {
        checks.Add((field, violation));
        return this;
    }

    /// <summary>The post-load hook: runs after every field (and every part's) is set.</summary>
    public StateDescription<TDevice> AfterLoad(Action<TDevice> hook)
    {
        afterLoad += hook;
        return this;
    }

    /// <summary>The pre-save hook: brings state the device keeps lazily up to date before the fields are read (QEMU's pre_save).</summary>
    public StateDescription<TDevice> BeforeSave(Action<TDevice> hook)
    {
        beforeSave += hook;
        return this;
    }

    private StateDescription<TDevice> Add(StateField<TDevice> field)
    {
        if (field.Since < 1 || field.Since > Version)
        {
            throw new ArgumentOutOfRangeException(nameof(field), $"{Name}.{field.Name}: added in version {field.Since}, but the description is version {Version}");
        }

        if (fields.Any(f => f.Name == field.Name))
        {
            throw new ArgumentException($"{Name}: field {field.Name} is described twice", nameof(field));
        }

        fields.Add(field);
        return this;
    }

    public byte[] Save(TDevice device)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            WriteObject(writer, device!, 0);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    byte[] IDeviceStateDescription.Save(object device) => Save((TDevice)device);

    /// <summary>Loads a payload of the current version into <paramref name="device"/> and applies it (the path snapshots take, in one call).</summary>
    public void Restore(TDevice device, ReadOnlySpan<byte> payload) => Load(device, Version, payload).Apply();

    /// <summary>Saves <paramref name="device"/> and restores that state into <paramref name="into"/>.</summary>
    public void Copy(TDevice device, TDevice into) => Restore(into, Save(device));

    public IPendingRestore Load(TDevice device, int version, ReadOnlySpan<byte> payload, string? deviceName = null)
    {
        string who = deviceName ?? Name;
        if (version < MinVersion || version > Version)
        {
            throw new DeviceStateException(who, "section version", version.ToString(System.Globalization.CultureInfo.InvariantCulture), $"this build reads versions {MinVersion} to {Version}");
        }

        // JsonDocument checks the UTF-8 of names and strings only when they are read, with an
        // InvalidOperationException: check it all first (found by `emu fuzz files`).
        if (!System.Text.Unicode.Utf8.IsValid(payload))
        {
            throw new DeviceStateException(who, "(section)", "", "not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(payload.ToArray());
        }
        catch (JsonException e)
        {
            throw new DeviceStateException(who, "(section)", "", $"not well-formed JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new DeviceStateException(who, "(section)", StateJson.Raw(document.RootElement), "must be an object");
            }

            return new Pending(ReadObject(document.RootElement, device!, new LoadContext(who, version, "", 0), topLevel: true));
        }
    }

    IPendingRestore IDeviceStateDescription.Load(object device, int version, ReadOnlySpan<byte> payload, string? deviceName) =>
        Load((TDevice)device, version, payload, deviceName);

    public void WriteObject(Utf8JsonWriter writer, object target, int position)
    {
        beforeSave?.Invoke((TDevice)target);
        foreach (var field in fields)
        {
            field.Write(writer, (TDevice)target, position);
        }
    }

    public Action ReadObject(JsonElement element, object target, in LoadContext context) => ReadObject(element, target, context, topLevel: false);

    private Action ReadObject(JsonElement element, object target, in LoadContext context, bool topLevel)
    {
        var device = (TDevice)target;
        var given = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            // The records this replaced wrote their version into the payload too; it must agree.
            if (topLevel && property.Name == "Version")
            {
                StateJson.ReadInteger<int>(property.Value, device!, StateRule.Within(context.Version, context.Version), context, "Version");
                continue;
            }

            var field = fields.FirstOrDefault(f => f.Name == property.Name)
                ?? throw context.Fail(property.Name, StateJson.Raw(property.Value), $"not a field of {Name} (version {context.Version})");
            if (field.Since > context.Version)
            {
                throw context.Fail(property.Name, StateJson.Raw(property.Value), $"added in version {field.Since}, so absent from a version {context.Version} section");
            }

            if (!given.TryAdd(property.Name, property.Value))
            {
                throw context.Fail(property.Name, StateJson.Raw(property.Value), "given twice");
            }
        }

        var values = new StateValues();
        var applies = new List<Action<TDevice>>();
        foreach (var field in fields)
        {
            var decoded = field.Load(given.TryGetValue(field.Name, out var e) ? e : null, device, context);
            values.Set(field.Name, decoded.Value);
            if (decoded.Apply is not null)
            {
                applies.Add(decoded.Apply);
            }
        }

        foreach (var (field, violation) in checks)
        {
            if (violation(device, values) is { } constraint)
            {
                string value = given.TryGetValue(field, out var v) ? StateJson.Raw(v) : "";
                throw context.Fail(field, value, constraint);
            }
        }

        var hook = afterLoad;
        return () =>
        {
            foreach (var apply in applies)
            {
                apply(device);
            }

            hook?.Invoke(device);
        };
    }

    private sealed class Pending(Action apply) : IPendingRestore
    {
        private bool applied;

        public void Apply()
        {
            if (applied)
            {
                throw new InvalidOperationException("a loaded state is applied once");
            }

            applied = true;
            apply();
        }
    }
}

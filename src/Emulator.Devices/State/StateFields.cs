using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace Emulator.Devices.State;

/// <summary>A field as loaded: its value (for cross-field checks; null for structs) and what sets it.</summary>
internal readonly record struct Decoded<TDevice>(object? Value, Action<TDevice>? Apply);

/// <summary>One field of a described object: how it is written, read, checked and applied.</summary>
internal abstract class StateField<TDevice>(string name, int since)
{
    public string Name => name;

    /// <summary>The section version that added the field.</summary>
    public int Since => since;

    public virtual void Write(Utf8JsonWriter writer, TDevice device, int position)
    {
        writer.WritePropertyName(name);
        WriteValue(writer, device, position);
    }

    protected abstract void WriteValue(Utf8JsonWriter writer, TDevice device, int position);

    /// <summary>Reads the field, or, when the section has none, its default (a section older than the field) or an error.</summary>
    public virtual Decoded<TDevice> Load(JsonElement? element, TDevice device, in LoadContext context)
    {
        if (element is { } e)
        {
            return Read(e, device, context);
        }

        if (since > context.Version)
        {
            return Fallback();
        }

        throw context.Fail(name, "", $"missing (a version {context.Version} section has it)");
    }

    protected abstract Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context);

    /// <summary>What a section older than the field means: by default the device keeps what it was built with.</summary>
    protected virtual Decoded<TDevice> Fallback() => default;
}

internal static class StateJson
{
    public static string Raw(JsonElement e)
    {
        string text = e.GetRawText();
        return text.Length <= 40 ? text : text[..40] + "...";
    }

    public static string Show(Int128 v) => v >= 10 ? string.Create(CultureInfo.InvariantCulture, $"{v} (0x{v:x})") : v.ToString(CultureInfo.InvariantCulture);

    public static string TypeName<T>() => typeof(T).Name switch
    {
        "Byte" => "u8",
        "UInt16" => "u16",
        "UInt32" => "u32",
        "UInt64" => "u64",
        "SByte" => "i8",
        "Int16" => "i16",
        "Int32" => "i32",
        "Int64" => "i64",
        var other => other,
    };

    public static void WriteInteger<T>(Utf8JsonWriter writer, T value) where T : IBinaryInteger<T>
    {
        var v = Int128.CreateTruncating(value);
        if (v < 0)
        {
            writer.WriteNumberValue((long)v);
        }
        else
        {
            writer.WriteNumberValue((ulong)v);
        }
    }

    /// <summary>An integer that fits <typeparamref name="T"/> and satisfies <paramref name="rule"/>, or the error naming <paramref name="field"/>.</summary>
    public static T ReadInteger<T>(JsonElement e, object device, StateRule? rule, in LoadContext context, string field)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
    {
        Int128 v;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long signed))
        {
            v = signed;
        }
        else if (e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out ulong unsigned))
        {
            v = unsigned;
        }
        else
        {
            throw context.Fail(field, Raw(e), $"an integer ({TypeName<T>()})");
        }

        var min = Int128.CreateChecked(T.MinValue);
        var max = Int128.CreateChecked(T.MaxValue);
        if (v < min || v > max)
        {
            throw context.Fail(field, Show(v), $"{TypeName<T>()} holds {min} to {max}");
        }

        if (rule is not null && !rule.Allows(device!, v))
        {
            throw context.Fail(field, Show(v), $"must be {rule.Describe(device!)}");
        }

        return T.CreateChecked(v);
    }

    public static void CheckLength(int length, int exact, int max, in LoadContext context, string field)
    {
        if (exact >= 0 && length != exact)
        {
            throw context.Fail(field, $"{length} elements", $"must have exactly {exact} (what the device has)");
        }

        if (max >= 0 && length > max)
        {
            throw context.Fail(field, $"{length} elements", $"must have at most {max}");
        }
    }
}

internal sealed class IntField<TDevice, T>(string name, Func<TDevice, T> get, Action<TDevice, T> set, StateRule? rule, int since, T fallback)
    : StateField<TDevice>(name, since)
    where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
{
    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position) => StateJson.WriteInteger(writer, get(device));

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        T value = StateJson.ReadInteger<T>(element, device!, rule, context, Name);
        return new(value, d => set(d, value));
    }

    protected override Decoded<TDevice> Fallback() => new(fallback, d => set(d, fallback));
}

internal sealed class FlagField<TDevice>(string name, Func<TDevice, bool> get, Action<TDevice, bool> set, int since, bool fallback)
    : StateField<TDevice>(name, since)
{
    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position) => writer.WriteBooleanValue(get(device));

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        if (element.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw context.Fail(Name, StateJson.Raw(element), "true or false");
        }

        bool value = element.GetBoolean();
        return new(value, d => set(d, value));
    }

    protected override Decoded<TDevice> Fallback() => new(fallback, d => set(d, fallback));
}

/// <summary>Bytes, as base64 (what System.Text.Json made of the byte arrays of the records this replaces).</summary>
internal sealed class BytesField<TDevice>(string name, Func<TDevice, byte[]> get, Action<TDevice, byte[]> set, int length, int maxLength, int since)
    : StateField<TDevice>(name, since)
{
    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position) => writer.WriteBase64StringValue(get(device));

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        if (element.ValueKind != JsonValueKind.String || !element.TryGetBytesFromBase64(out var bytes))
        {
            throw context.Fail(Name, StateJson.Raw(element), "bytes in base64");
        }

        StateJson.CheckLength(bytes.Length, length, maxLength, context, Name);
        return new(bytes, d => set(d, bytes));
    }
}

internal sealed class IntListField<TDevice, T>(string name, Func<TDevice, T[]> get, Action<TDevice, T[]> set, StateRule? each, int length, int maxLength, int since)
    : StateField<TDevice>(name, since)
    where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
{
    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position)
    {
        writer.WriteStartArray();
        foreach (var v in get(device))
        {
            StateJson.WriteInteger(writer, v);
        }

        writer.WriteEndArray();
    }

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            throw context.Fail(Name, StateJson.Raw(element), "a list of integers");
        }

        StateJson.CheckLength(element.GetArrayLength(), length, maxLength, context, Name);
        var values = new T[element.GetArrayLength()];
        int i = 0;
        foreach (var e in element.EnumerateArray())
        {
            values[i] = StateJson.ReadInteger<T>(e, device!, each, context, $"{Name}[{i}]");
            i++;
        }

        return new(values, d => set(d, values));
    }
}

/// <summary>The element's own position in its list, written so a reader can see the order; on load it must equal that position.</summary>
internal sealed class PositionField<TDevice>(string name) : StateField<TDevice>(name, 1)
{
    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position) => writer.WriteNumberValue(position);

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        int at = context.Position;
        int value = StateJson.ReadInteger<int>(element, device!, StateRule.Where<object>((_, v) => v == at, _ => $"{at}, its position in the list"), context, Name);
        return new(value, null);
    }
}

/// <summary>A part of the device described by its own shape (a PIT counter, a PIC chip, the virtio device behind its transport).</summary>
internal sealed class ObjectField<TDevice>(string name, Func<TDevice, object> get, Func<TDevice, IStateShape?> shape, int since)
    : StateField<TDevice>(name, since)
{
    public override void Write(Utf8JsonWriter writer, TDevice device, int position)
    {
        if (shape(device) is not null)
        {
            base.Write(writer, device, position);
        }
    }

    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position)
    {
        writer.WriteStartObject();
        shape(device)!.WriteObject(writer, get(device), 0);
        writer.WriteEndObject();
    }

    public override Decoded<TDevice> Load(JsonElement? element, TDevice device, in LoadContext context) =>
        element is null && shape(device) is null ? default : base.Load(element, device, context);

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        if (shape(device) is not { } s)
        {
            throw context.Fail(Name, StateJson.Raw(element), "absent (this device has no such state)");
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw context.Fail(Name, StateJson.Raw(element), "an object");
        }

        var apply = s.ReadObject(element, get(device)!, context.Enter(Name + ".", 0));
        return new(null, _ => apply());
    }
}

/// <summary>A list of parts, one per part the device has (its virtqueues, its IOAPIC pins): the length must be the device's.</summary>
internal sealed class ObjectListField<TDevice>(string name, Func<TDevice, IReadOnlyList<object>> items, IStateShape shape, int since)
    : StateField<TDevice>(name, since)
{
    protected override void WriteValue(Utf8JsonWriter writer, TDevice device, int position)
    {
        writer.WriteStartArray();
        var list = items(device);
        for (int i = 0; i < list.Count; i++)
        {
            writer.WriteStartObject();
            shape.WriteObject(writer, list[i], i);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    protected override Decoded<TDevice> Read(JsonElement element, TDevice device, in LoadContext context)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            throw context.Fail(Name, StateJson.Raw(element), "a list of objects");
        }

        var list = items(device);
        StateJson.CheckLength(element.GetArrayLength(), list.Count, -1, context, Name);
        var applies = new List<Action>();
        int i = 0;
        foreach (var e in element.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object)
            {
                throw context.Fail($"{Name}[{i}]", StateJson.Raw(e), "an object");
            }

            applies.Add(shape.ReadObject(e, list[i], context.Enter($"{Name}[{i}].", i)));
            i++;
        }

        return new(null, _ => applies.ForEach(a => a()));
    }
}

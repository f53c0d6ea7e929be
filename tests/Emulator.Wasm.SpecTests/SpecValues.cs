using System.Globalization;
using System.Text.Json;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.SpecTests;

/// <summary>Script values: wast2json writes integers as unsigned decimal and floats as their bit patterns.</summary>
public static class SpecValues
{
    public static object? Parse(JsonElement v)
    {
        string type = v.GetProperty("type").GetString()!;
        string text = v.GetProperty("value").GetString()!;
        return type switch
        {
            "i32" => (int)uint.Parse(text, CultureInfo.InvariantCulture),
            "i64" => (long)ulong.Parse(text, CultureInfo.InvariantCulture),
            "f32" => BitConverter.Int32BitsToSingle((int)uint.Parse(text, CultureInfo.InvariantCulture)),
            "f64" => BitConverter.Int64BitsToDouble((long)ulong.Parse(text, CultureInfo.InvariantCulture)),
            "externref" => text == "null" ? null : new HostReference(ulong.Parse(text, CultureInfo.InvariantCulture)),
            "funcref" => text == "null" ? null : throw new NotSupportedException("funcref argument"),
            _ => throw new NotSupportedException($"value type {type}"),
        };
    }

    /// <summary>Compares a result; nan:canonical and nan:arithmetic follow spec 4.3.3 (NaN propagation).</summary>
    public static bool Matches(JsonElement expected, object? actual)
    {
        string type = expected.GetProperty("type").GetString()!;
        string? text = expected.TryGetProperty("value", out var v) ? v.GetString() : null;
        switch (type)
        {
            case "i32": return actual is int i && (uint)i == uint.Parse(text!, CultureInfo.InvariantCulture);
            case "i64": return actual is long l && (ulong)l == ulong.Parse(text!, CultureInfo.InvariantCulture);
            case "f32":
            {
                if (actual is not float f) return false;
                uint bits = (uint)BitConverter.SingleToInt32Bits(f);
                return text switch
                {
                    "nan:canonical" => (bits & 0x7FFFFFFF) == 0x7FC00000,
                    "nan:arithmetic" => (bits & 0x7FC00000) == 0x7FC00000,
                    _ => bits == uint.Parse(text!, CultureInfo.InvariantCulture),
                };
            }
            case "f64":
            {
                if (actual is not double d) return false;
                ulong bits = (ulong)BitConverter.DoubleToInt64Bits(d);
                return text switch
                {
                    "nan:canonical" => (bits & 0x7FFFFFFFFFFFFFFF) == 0x7FF8000000000000,
                    "nan:arithmetic" => (bits & 0x7FF8000000000000) == 0x7FF8000000000000,
                    _ => bits == ulong.Parse(text!, CultureInfo.InvariantCulture),
                };
            }
            case "externref":
                return text == "null" ? actual is null : actual is HostReference h && h.Id == ulong.Parse(text!, CultureInfo.InvariantCulture);
            case "funcref":
                return text == "null" ? actual is null : actual is WasmFunction;
            default:
                return false;
        }
    }

    public static string Show(object? value) => value switch
    {
        null => "null",
        int i => $"i32:{(uint)i}",
        long l => $"i64:{(ulong)l}",
        float f => $"f32:{(uint)BitConverter.SingleToInt32Bits(f)} ({f.ToString(CultureInfo.InvariantCulture)})",
        double d => $"f64:{(ulong)BitConverter.DoubleToInt64Bits(d)} ({d.ToString(CultureInfo.InvariantCulture)})",
        _ => value.ToString() ?? "?",
    };
}

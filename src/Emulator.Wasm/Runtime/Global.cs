using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// A global cell (spec 4.2.9), shared by reference when imported or exported. Numeric values live in
/// <see cref="Bits"/> (f32/i32 in its low four bytes, little-endian), references in <see cref="Ref"/>.
/// </summary>
public sealed class Global
{
    internal long Bits;
    internal object? Ref;

    public GlobalType Type { get; }

    public Global(GlobalType type) => Type = type;

    public Global(GlobalType type, object? value) : this(type) => SetValue(value);

    /// <summary>The value boxed as int, long, float, double or a reference (not for hot paths).</summary>
    public object? Value
    {
        get => Type.Type switch
        {
            ValType.I32 => (int)Bits,
            ValType.I64 => Bits,
            ValType.F32 => BitConverter.Int32BitsToSingle((int)Bits),
            ValType.F64 => BitConverter.Int64BitsToDouble(Bits),
            _ => Ref,
        };
        set
        {
            if (!Type.Mutable) throw new InvalidOperationException("global is immutable");
            SetValue(value);
        }
    }

    internal void SetValue(object? value)
    {
        switch (Type.Type)
        {
            case ValType.I32: Bits = (uint)(int)value!; break;
            case ValType.I64: Bits = (long)value!; break;
            case ValType.F32: Bits = (uint)BitConverter.SingleToInt32Bits((float)value!); break;
            case ValType.F64: Bits = BitConverter.DoubleToInt64Bits((double)value!); break;
            default: Ref = value; break;
        }
    }

    internal void SetBits(long bits, object? reference)
    {
        Bits = bits;
        Ref = reference;
    }
}

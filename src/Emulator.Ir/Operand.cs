namespace Emulator.Ir;

/// <summary>An op input: a temp (the result of an earlier op in the block) or a constant.</summary>
public readonly struct Operand : IEquatable<Operand>
{
    private const int ConstMarker = -1;

    private Operand(int temp, ulong value, IrType type)
    {
        Temp = temp;
        Value = value;
        Type = type;
    }

    /// <summary>The temp number, or -1 for a constant.</summary>
    public int Temp { get; }

    /// <summary>The constant's value (zero-extended to 64 bits); 0 for temps.</summary>
    public ulong Value { get; }

    public IrType Type { get; }

    public bool IsConst => Temp == ConstMarker;

    public bool IsValid { get; init; }

    public static Operand TempOf(int temp, IrType type) => new(temp, 0, type) { IsValid = true };

    public static Operand Const(ulong value, IrType type) => new(ConstMarker, value & type.Mask(), type) { IsValid = true };

    public bool IsConstValue(ulong v) => IsConst && Value == (v & Type.Mask());

    public bool Equals(Operand other) => Temp == other.Temp && Value == other.Value && Type == other.Type && IsValid == other.IsValid;

    public override bool Equals(object? obj) => obj is Operand o && Equals(o);

    public override int GetHashCode() => HashCode.Combine(Temp, Value, Type);

    public static bool operator ==(Operand a, Operand b) => a.Equals(b);

    public static bool operator !=(Operand a, Operand b) => !a.Equals(b);

    public override string ToString() => !IsValid ? "_" : IsConst ? $"{Value:x}:{Type.Name()}" : $"t{Temp}";
}

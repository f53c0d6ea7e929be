namespace Emulator.Wasm.Model;

/// <summary>Wasm value types with their binary encodings (spec 5.3.1, 5.3.3).</summary>
public enum ValType : byte
{
    /// <summary>The validator's "unknown" operand, produced by the polymorphic stack after an unconditional branch.</summary>
    Unknown = 0,
    I32 = 0x7F,
    I64 = 0x7E,
    F32 = 0x7D,
    F64 = 0x7C,
    V128 = 0x7B,
    FuncRef = 0x70,
    ExternRef = 0x6F,
}

public static class ValTypes
{
    public static bool IsReference(this ValType t) => t is ValType.FuncRef or ValType.ExternRef;

    public static bool IsNumeric(this ValType t) => t is ValType.I32 or ValType.I64 or ValType.F32 or ValType.F64;

    public static string Name(this ValType t) => t switch
    {
        ValType.I32 => "i32",
        ValType.I64 => "i64",
        ValType.F32 => "f32",
        ValType.F64 => "f64",
        ValType.V128 => "v128",
        ValType.FuncRef => "funcref",
        ValType.ExternRef => "externref",
        _ => "unknown",
    };

    /// <summary>The CLR type a value of this Wasm type has in compiled code.</summary>
    public static Type ClrType(this ValType t) => t switch
    {
        ValType.I32 => typeof(int),
        ValType.I64 => typeof(long),
        ValType.F32 => typeof(float),
        ValType.F64 => typeof(double),
        _ => typeof(object),
    };
}

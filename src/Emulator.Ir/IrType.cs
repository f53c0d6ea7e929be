namespace Emulator.Ir;

/// <summary>
/// The integer types of IR values. Every value is held zero-extended to 64 bits; an op of
/// type T produces a result already truncated to T's width, so consumers never re-mask.
/// Floating point and vector work is done by helpers on CPU state, as QEMU's i386 target does.
/// </summary>
public enum IrType : byte
{
    I8,
    I16,
    I32,
    I64,
}

public static class IrTypes
{
    public static int Bits(this IrType t) => 8 << (int)t;

    public static int Bytes(this IrType t) => 1 << (int)t;

    public static ulong Mask(this IrType t) => t == IrType.I64 ? ulong.MaxValue : (1UL << t.Bits()) - 1;

    public static IrType FromBytes(int bytes) => bytes switch
    {
        1 => IrType.I8,
        2 => IrType.I16,
        4 => IrType.I32,
        8 => IrType.I64,
        _ => throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "an IR integer is 1, 2, 4 or 8 bytes"),
    };

    public static string Name(this IrType t) => t switch
    {
        IrType.I8 => "i8",
        IrType.I16 => "i16",
        IrType.I32 => "i32",
        _ => "i64",
    };
}

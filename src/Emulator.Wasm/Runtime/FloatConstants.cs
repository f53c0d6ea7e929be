namespace Emulator.Wasm.Runtime;

/// <summary>
/// Float constants that are identities of an operation (x - 0, -0 - x, x * 1, x / 1, x * -1, x / -1).
/// RyuJIT rewrites such operations to x or -x, which is exact for every value except a signalling NaN,
/// where Wasm requires an arithmetic (quiet) NaN (spec 4.3.3). Loading the constant from a mutable static
/// field hides its value from the JIT and keeps the operation. The fields are never written.
/// </summary>
public static class FloatConstants
{
#pragma warning disable CA2211 // mutable on purpose: a readonly static would be folded like a literal
    public static float F32PlusZero = 0f;
    public static float F32MinusZero = -0f;
    public static float F32PlusOne = 1f;
    public static float F32MinusOne = -1f;
    public static double F64PlusZero = 0d;
    public static double F64MinusZero = -0d;
    public static double F64PlusOne = 1d;
    public static double F64MinusOne = -1d;
#pragma warning restore CA2211

    public static string? F32Field(uint bits) => bits switch
    {
        0x00000000 => nameof(F32PlusZero),
        0x80000000 => nameof(F32MinusZero),
        0x3F800000 => nameof(F32PlusOne),
        0xBF800000 => nameof(F32MinusOne),
        _ => null,
    };

    public static string? F64Field(ulong bits) => bits switch
    {
        0x0000000000000000 => nameof(F64PlusZero),
        0x8000000000000000 => nameof(F64MinusZero),
        0x3FF0000000000000 => nameof(F64PlusOne),
        0xBFF0000000000000 => nameof(F64MinusOne),
        _ => null,
    };
}

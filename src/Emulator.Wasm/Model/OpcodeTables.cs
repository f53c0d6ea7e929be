namespace Emulator.Wasm.Model;

/// <summary>Operand and result types of a numeric instruction (spec 3.3.1): Second is Unknown for unary ops.</summary>
public readonly record struct NumericSignature(ValType First, ValType Second, ValType Result)
{
    public bool IsDefined => Result != ValType.Unknown;
    public bool IsUnary => Second == ValType.Unknown;
}

/// <summary>A plain load or store (spec 3.3.7): the value type, access width and sign extension.</summary>
public readonly record struct MemoryAccess(ValType Type, int Size, bool Signed, bool IsStore)
{
    public int NaturalAlignmentLog2 => Size switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 };
}

public enum AtomicKind : byte { None, Load, Store, Add, Sub, And, Or, Xor, Exchange, CompareExchange }

/// <summary>An atomic memory instruction of the threads proposal (opcode 0xFE 0x10..0x4E).</summary>
public readonly record struct AtomicAccess(AtomicKind Kind, ValType Type, int Size);

/// <summary>One table, one truth: the signatures that the validator and the compiler both read.</summary>
public static class OpcodeTables
{
    public static readonly NumericSignature[] Numeric = BuildNumeric();
    public static readonly NumericSignature[] SaturatingTruncation =
    {
        new(ValType.F32, ValType.Unknown, ValType.I32), new(ValType.F32, ValType.Unknown, ValType.I32),
        new(ValType.F64, ValType.Unknown, ValType.I32), new(ValType.F64, ValType.Unknown, ValType.I32),
        new(ValType.F32, ValType.Unknown, ValType.I64), new(ValType.F32, ValType.Unknown, ValType.I64),
        new(ValType.F64, ValType.Unknown, ValType.I64), new(ValType.F64, ValType.Unknown, ValType.I64),
    };
    public static readonly MemoryAccess[] Memory = BuildMemory();
    public static readonly AtomicAccess[] Atomic = BuildAtomic();

    /// <summary>Whether a first opcode byte names an instruction this engine decodes (spec 5.4; 0xFD is SIMD, refused later).</summary>
    public static bool IsDefined(byte op) =>
        op <= 0x05 || op is >= 0x0B and <= 0x11 || op is >= 0x1A and <= 0x1C || op is >= 0x20 and <= 0x26
        || op is >= 0x28 and <= 0xC4 || op is >= 0xD0 and <= 0xD2 || op is 0xFC or 0xFD or 0xFE;

    private static NumericSignature[] BuildNumeric()
    {
        var t = new NumericSignature[256];
        const ValType I32 = ValType.I32, I64 = ValType.I64, F32 = ValType.F32, F64 = ValType.F64, N = ValType.Unknown;
        void Range(int from, int to, ValType a, ValType b, ValType r)
        {
            for (int op = from; op <= to; op++) t[op] = new NumericSignature(a, b, r);
        }
        Range(0x45, 0x45, I32, N, I32);
        Range(0x46, 0x4F, I32, I32, I32);
        Range(0x50, 0x50, I64, N, I32);
        Range(0x51, 0x5A, I64, I64, I32);
        Range(0x5B, 0x60, F32, F32, I32);
        Range(0x61, 0x66, F64, F64, I32);
        Range(0x67, 0x69, I32, N, I32);
        Range(0x6A, 0x78, I32, I32, I32);
        Range(0x79, 0x7B, I64, N, I64);
        Range(0x7C, 0x8A, I64, I64, I64);
        Range(0x8B, 0x91, F32, N, F32);
        Range(0x92, 0x98, F32, F32, F32);
        Range(0x99, 0x9F, F64, N, F64);
        Range(0xA0, 0xA6, F64, F64, F64);
        Range(0xA7, 0xA7, I64, N, I32);
        Range(0xA8, 0xA9, F32, N, I32);
        Range(0xAA, 0xAB, F64, N, I32);
        Range(0xAC, 0xAD, I32, N, I64);
        Range(0xAE, 0xAF, F32, N, I64);
        Range(0xB0, 0xB1, F64, N, I64);
        Range(0xB2, 0xB3, I32, N, F32);
        Range(0xB4, 0xB5, I64, N, F32);
        Range(0xB6, 0xB6, F64, N, F32);
        Range(0xB7, 0xB8, I32, N, F64);
        Range(0xB9, 0xBA, I64, N, F64);
        Range(0xBB, 0xBB, F32, N, F64);
        Range(0xBC, 0xBC, F32, N, I32);
        Range(0xBD, 0xBD, F64, N, I64);
        Range(0xBE, 0xBE, I32, N, F32);
        Range(0xBF, 0xBF, I64, N, F64);
        Range(0xC0, 0xC1, I32, N, I32);
        Range(0xC2, 0xC4, I64, N, I64);
        return t;
    }

    private static MemoryAccess[] BuildMemory()
    {
        var t = new MemoryAccess[256];
        t[0x28] = new(ValType.I32, 4, false, false);
        t[0x29] = new(ValType.I64, 8, false, false);
        t[0x2A] = new(ValType.F32, 4, false, false);
        t[0x2B] = new(ValType.F64, 8, false, false);
        t[0x2C] = new(ValType.I32, 1, true, false);
        t[0x2D] = new(ValType.I32, 1, false, false);
        t[0x2E] = new(ValType.I32, 2, true, false);
        t[0x2F] = new(ValType.I32, 2, false, false);
        t[0x30] = new(ValType.I64, 1, true, false);
        t[0x31] = new(ValType.I64, 1, false, false);
        t[0x32] = new(ValType.I64, 2, true, false);
        t[0x33] = new(ValType.I64, 2, false, false);
        t[0x34] = new(ValType.I64, 4, true, false);
        t[0x35] = new(ValType.I64, 4, false, false);
        t[0x36] = new(ValType.I32, 4, false, true);
        t[0x37] = new(ValType.I64, 8, false, true);
        t[0x38] = new(ValType.F32, 4, false, true);
        t[0x39] = new(ValType.F64, 8, false, true);
        t[0x3A] = new(ValType.I32, 1, false, true);
        t[0x3B] = new(ValType.I32, 2, false, true);
        t[0x3C] = new(ValType.I64, 1, false, true);
        t[0x3D] = new(ValType.I64, 2, false, true);
        t[0x3E] = new(ValType.I64, 4, false, true);
        return t;
    }

    private static AtomicAccess[] BuildAtomic()
    {
        var t = new AtomicAccess[0x4F];
        // 0x10..0x16 loads, 0x17..0x1D stores, then seven read-modify-write groups of seven.
        var order = new (ValType Type, int Size)[]
        {
            (ValType.I32, 4), (ValType.I64, 8), (ValType.I32, 1), (ValType.I32, 2), (ValType.I64, 1), (ValType.I64, 2), (ValType.I64, 4),
        };
        var kinds = new[] { AtomicKind.Load, AtomicKind.Store, AtomicKind.Add, AtomicKind.Sub, AtomicKind.And, AtomicKind.Or, AtomicKind.Xor, AtomicKind.Exchange, AtomicKind.CompareExchange };
        for (int k = 0; k < kinds.Length; k++)
            for (int i = 0; i < 7; i++)
                t[0x10 + k * 7 + i] = new AtomicAccess(kinds[k], order[i].Type, order[i].Size);
        return t;
    }
}

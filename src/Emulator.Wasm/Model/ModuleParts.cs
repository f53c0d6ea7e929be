namespace Emulator.Wasm.Model;

public sealed record Import(string Module, string Name, ExternalKind Kind, int TypeIndex, TableType Table, MemoryType Memory, GlobalType Global);

public sealed record Export(string Name, ExternalKind Kind, int Index);

public enum SegmentMode : byte
{
    Active,
    Passive,
    Declarative,
}

/// <summary>
/// A constant expression (spec 3.3.10). Wasm 2.0 allows exactly one constant instruction, so it is
/// kept decoded: the opcode plus its immediate.
/// </summary>
public readonly record struct ConstExpr(byte Opcode, ulong Bits, int Index, ValType RefType, int Offset)
{
    public const byte I32Const = 0x41, I64Const = 0x42, F32Const = 0x43, F64Const = 0x44, GlobalGet = 0x23, RefNull = 0xD0, RefFunc = 0xD2;
}

public sealed record ElementSegment(SegmentMode Mode, int TableIndex, ConstExpr Offset, ValType ElementType, ConstExpr[] Items);

public sealed record DataSegment(SegmentMode Mode, int MemoryIndex, ConstExpr Offset, byte[] Bytes);

/// <summary>A function body as a byte range of the module (spec 5.5.13), with its declared locals expanded.</summary>
public sealed record FunctionBody(ValType[] Locals, int CodeStart, int CodeEnd);

public sealed record CustomSection(string Name, int Start, int Length);

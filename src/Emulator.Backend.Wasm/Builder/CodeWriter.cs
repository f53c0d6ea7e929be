namespace Emulator.Backend.Wasm.Builder;

/// <summary>Widths and signedness of the Wasm loads the backend uses.</summary>
public enum LoadKind : byte
{
    I32 = 0x28,
    I64 = 0x29,
    I32U8 = 0x2d,
    I64U8 = 0x31,
    I64U16 = 0x33,
    I64U32 = 0x35,
}

public enum StoreKind : byte
{
    I32 = 0x36,
    I64 = 0x37,
    I64B8 = 0x3c,
    I64B16 = 0x3d,
    I64B32 = 0x3e,
}

/// <summary>
/// One function body's instructions, written through typed methods (one per Wasm instruction
/// the backend needs; opcodes from the Wasm spec 5.4). The caller keeps the operand stack
/// balanced; wasm-validate and the engines' validators check every emitted module.
/// </summary>
public sealed class CodeWriter : ByteWriter
{
    private const byte EmptyBlock = 0x40;

    /// <summary>
    /// How many blocks, loops and ifs enclose the next instruction. A construct's label can be
    /// kept as the depth just after it opens and branched to from deeper with <see cref="BrTo"/>.
    /// </summary>
    public int Depth { get; private set; }

    // Control (5.4.1)
    public void Unreachable() => Byte(0x00);
    public void Block() { Byte(0x02); Byte(EmptyBlock); Depth++; }
    public void Loop() { Byte(0x03); Byte(EmptyBlock); Depth++; }
    public void If() { Byte(0x04); Byte(EmptyBlock); Depth++; }
    public void IfResult(WasmType t) { Byte(0x04); Byte((byte)t); Depth++; }
    public void Else() => Byte(0x05);
    public void End() { Byte(0x0b); Depth--; }
    public void Br(int depth) { Byte(0x0c); U32((uint)depth); }

    /// <summary>Branches to the construct whose <see cref="Depth"/> was <paramref name="label"/> just after it opened.</summary>
    public void BrTo(int label) => Br(Depth - label);
    public void BrIf(int depth) { Byte(0x0d); U32((uint)depth); }
    public void BrTable(int[] depths, int defaultDepth)
    {
        Byte(0x0e);
        U32((uint)depths.Length);
        foreach (int d in depths) U32((uint)d);
        U32((uint)defaultDepth);
    }

    public void Return() => Byte(0x0f);
    public void Call(int function) { Byte(0x10); U32((uint)function); }
    public void CallIndirect(int type) { Byte(0x11); U32((uint)type); U32(0); }

    // Parametric (5.4.3)
    public void Drop() => Byte(0x1a);
    public void Select() => Byte(0x1b);

    // Variables (5.4.4)
    public void LocalGet(int i) { Byte(0x20); U32((uint)i); }
    public void LocalSet(int i) { Byte(0x21); U32((uint)i); }
    public void LocalTee(int i) { Byte(0x22); U32((uint)i); }

    // Memory (5.4.6): memory 0, alignment hint 0 (any alignment is allowed for plain accesses).
    public void Load(LoadKind kind, ulong offset) { Byte((byte)kind); U32(0); U64(offset); }

    /// <summary>A threads-proposal atomic (0xfe prefix); its alignment must be the access's natural one (log2 bytes).</summary>
    public void Atomic(int opcode, int alignLog2, ulong offset) { Byte(0xfe); U32((uint)opcode); U32((uint)alignLog2); U64(offset); }
    public void Store(StoreKind kind, ulong offset) { Byte((byte)kind); U32(0); U64(offset); }

    // Numeric (5.4.7)
    public void I32Const(int v) { Byte(0x41); S64(v); }
    public void I64Const(long v) { Byte(0x42); S64(v); }
    public void I64Const(ulong v) => I64Const((long)v);

    public void I32Eqz() => Byte(0x45);
    public void I32Eq() => Byte(0x46);
    public void I32ShrU() => Byte(0x76);
    public void I32Ne() => Byte(0x47);
    public void I32LtS() => Byte(0x48);
    public void I32GeS() => Byte(0x4e);
    public void I32Add() => Byte(0x6a);
    public void I32Sub() => Byte(0x6b);
    public void I32Mul() => Byte(0x6c);
    public void I32Shl() => Byte(0x74);
    public void I32Or() => Byte(0x72);
    public void I32And() => Byte(0x71);
    public void I32Rotl() => Byte(0x77);
    public void I32Rotr() => Byte(0x78);
    public void I32WrapI64() => Byte(0xa7);

    public void I64Eqz() => Byte(0x50);
    public void I64Eq() => Byte(0x51);
    public void I64Ne() => Byte(0x52);
    public void I64LtS() => Byte(0x53);
    public void I64LtU() => Byte(0x54);
    public void I64GtS() => Byte(0x55);
    public void I64GtU() => Byte(0x56);
    public void I64LeS() => Byte(0x57);
    public void I64LeU() => Byte(0x58);
    public void I64GeS() => Byte(0x59);
    public void I64GeU() => Byte(0x5a);

    public void I64Clz() => Byte(0x79);
    public void I64Ctz() => Byte(0x7a);
    public void I64Popcnt() => Byte(0x7b);
    public void I64Add() => Byte(0x7c);
    public void I64Sub() => Byte(0x7d);
    public void I64Mul() => Byte(0x7e);
    public void I64And() => Byte(0x83);
    public void I64Or() => Byte(0x84);
    public void I64Xor() => Byte(0x85);
    public void I64Shl() => Byte(0x86);
    public void I64ShrS() => Byte(0x87);
    public void I64ShrU() => Byte(0x88);
    public void I64Rotl() => Byte(0x89);
    public void I64Rotr() => Byte(0x8a);

    public void I64ExtendI32S() => Byte(0xac);
    public void I64ExtendI32U() => Byte(0xad);
    public void I64Extend8S() => Byte(0xc2);
    public void I64Extend16S() => Byte(0xc3);
    public void I64Extend32S() => Byte(0xc4);
}

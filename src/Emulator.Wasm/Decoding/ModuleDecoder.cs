using Emulator.Wasm.Model;

namespace Emulator.Wasm.Decoding;

/// <summary>
/// Decodes a binary module (spec 5.5) into a <see cref="ModuleDefinition"/>. Function bodies stay byte
/// ranges: the validator and the compiler each read them once.
/// </summary>
public static class ModuleDecoder
{
    private const uint Magic = 0x6D736100; // "\0asm"
    private const uint Version = 1;

    /// <summary>Engine limit on locals per function: CIL allows 65,535 locals and the compiler needs a few temporaries.</summary>
    public const int MaxLocals = 50_000;

    public static ModuleDefinition Decode(byte[] bytes, Validation.WasmFeatures? features = null)
    {
        var module = new ModuleDefinition { Bytes = bytes, Features = features ?? Validation.WasmFeatures.Default };
        var r = new WasmReader(bytes, 0, bytes.Length, "header");
        if (bytes.Length < 4 || BitConverter.ToUInt32(bytes, 0) != Magic)
            r.Fail(bytes.Length < 4 ? "unexpected end" : "magic header not detected");
        r.Position = 4;
        if (bytes.Length < 8) r.Fail("unexpected end");
        if (BitConverter.ToUInt32(bytes, 4) != Version) r.Fail("unknown binary version");
        r.Position = 8;

        int lastRank = 0;
        int functionCount = -1;
        while (!r.AtEnd)
        {
            r.Section = "module";
            byte id = r.ReadByte();
            r.Section = SectionName(id);
            uint size = r.ReadU32();
            int start = r.Position;
            if (size > (uint)(bytes.Length - start)) r.Fail("unexpected end of section or function");
            int end = start + (int)size;
            r.Section = SectionName(id);
            if (id > 12) { r.Position = start - 1; r.Fail("malformed section id"); }
            if (id != 0)
            {
                int rank = Rank(id);
                if (rank <= lastRank) r.Fail("unexpected content after last section");
                lastRank = rank;
            }
            if (id != 0) module.SectionOffsets[r.Section] = start;
            var s = new WasmReader(bytes, start, end, r.Section);
            switch (id)
            {
                case 0: ReadCustom(ref s, module); break;
                case 1: ReadTypes(ref s, module); break;
                case 2: ReadImports(ref s, module); break;
                case 3: functionCount = ReadFunctions(ref s, module); break;
                case 4: ReadTables(ref s, module); break;
                case 5: ReadMemories(ref s, module); break;
                case 6: ReadGlobals(ref s, module); break;
                case 7: ReadExports(ref s, module); break;
                case 8: module.Start = s.ReadIndex(); break;
                case 9: ReadElements(ref s, module); break;
                case 10: ReadCode(ref s, module, functionCount); functionCount = -2; break;
                case 11: ReadData(ref s, module); break;
                case 12: module.DataCount = s.ReadIndex(); break;
            }
            if (s.Position != end) s.Fail("section size mismatch");
            r.Position = end;
        }
        if (functionCount > 0) { r.Section = "code"; r.Fail("function and code section have inconsistent lengths"); }
        if (module.DataCount is { } dc && dc != module.Data.Count)
        {
            r.Section = "data count";
            r.Fail("data count and data section have inconsistent lengths");
        }
        return module;
    }

    private static int Rank(byte id) => id switch
    {
        12 => 10,
        10 => 11,
        11 => 12,
        _ => id,
    };

    internal static string SectionName(byte id) => id switch
    {
        0 => "custom",
        1 => "type",
        2 => "import",
        3 => "function",
        4 => "table",
        5 => "memory",
        6 => "global",
        7 => "export",
        8 => "start",
        9 => "element",
        10 => "code",
        11 => "data",
        12 => "data count",
        _ => "unknown",
    };

    private static void ReadCustom(ref WasmReader s, ModuleDefinition m)
    {
        string name = s.ReadName();
        m.CustomSections.Add(new CustomSection(name, s.Position, s.End - s.Position));
        s.Position = s.End;
    }

    internal static ValType ReadValType(ref WasmReader s)
    {
        byte b = s.ReadByte();
        switch (b)
        {
            case 0x7F: case 0x7E: case 0x7D: case 0x7C: case 0x70: case 0x6F:
                return (ValType)b;
            case 0x7B:
                throw new WasmModuleException(ModuleErrorKind.Unsupported, s.Section, s.Position - 1, "SIMD (v128) is not supported by this engine");
            default:
                s.Position--;
                s.Fail("malformed value type");
                return default;
        }
    }

    internal static ValType ReadRefType(ref WasmReader s)
    {
        byte b = s.ReadByte();
        if (b is 0x70 or 0x6F) return (ValType)b;
        s.Position--;
        s.Fail("malformed reference type");
        return default;
    }

    private static void ReadTypes(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++)
        {
            if (s.ReadByte() != 0x60) { s.Position--; s.Fail("malformed function type"); }
            var ps = ReadValTypes(ref s);
            var rs = ReadValTypes(ref s);
            m.Types.Add(new FuncType(ps, rs));
        }
    }

    private static ValType[] ReadValTypes(ref WasmReader s)
    {
        int n = s.ReadIndex();
        if (n > s.End - s.Position) s.Fail("unexpected end");
        var result = new ValType[n];
        for (int i = 0; i < n; i++) result[i] = ReadValType(ref s);
        return result;
    }

    private static Limits ReadLimits(ref WasmReader s, bool memory, Validation.WasmFeatures features)
    {
        byte flags = s.ReadByte();
        // Bit 0: has max; bit 1: shared (threads); bit 2: 64-bit index (memory64).
        int allowed = !memory ? 0x01 : 0x01 | (features.Threads ? 0x02 : 0) | (features.Memory64 ? 0x04 : 0);
        if ((flags & ~allowed) != 0) { s.Position--; s.Fail("integer too large: malformed limits flags"); }
        bool is64 = (flags & 4) != 0;
        ulong min = is64 ? s.ReadU64() : s.ReadU32();
        ulong? max = (flags & 1) != 0 ? (is64 ? s.ReadU64() : s.ReadU32()) : null;
        return new Limits(min, max, (flags & 2) != 0, is64);
    }

    private static TableType ReadTableType(ref WasmReader s)
    {
        var elem = ReadRefType(ref s);
        return new TableType(elem, ReadLimits(ref s, memory: false, Validation.WasmFeatures.Default));
    }

    private static GlobalType ReadGlobalType(ref WasmReader s)
    {
        var t = ReadValType(ref s);
        byte mut = s.ReadByte();
        if (mut > 1) { s.Position--; s.Fail("malformed mutability"); }
        return new GlobalType(t, mut == 1);
    }

    private static void ReadImports(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++)
        {
            string module = s.ReadName();
            string name = s.ReadName();
            byte kind = s.ReadByte();
            switch (kind)
            {
                case 0:
                    int type = s.ReadIndex();
                    m.Imports.Add(new Import(module, name, ExternalKind.Function, type, default, default, default));
                    m.FunctionTypes.Add(type);
                    m.ImportedFunctionCount++;
                    break;
                case 1:
                    var tt = ReadTableType(ref s);
                    m.Imports.Add(new Import(module, name, ExternalKind.Table, 0, tt, default, default));
                    m.Tables.Add(tt);
                    m.ImportedTableCount++;
                    break;
                case 2:
                    var mt = new MemoryType(ReadLimits(ref s, memory: true, m.Features));
                    m.Imports.Add(new Import(module, name, ExternalKind.Memory, 0, default, mt, default));
                    m.Memories.Add(mt);
                    m.ImportedMemoryCount++;
                    break;
                case 3:
                    var gt = ReadGlobalType(ref s);
                    m.Imports.Add(new Import(module, name, ExternalKind.Global, 0, default, default, gt));
                    m.Globals.Add((gt, default));
                    m.ImportedGlobalCount++;
                    break;
                default:
                    s.Position--;
                    s.Fail("malformed import kind");
                    break;
            }
        }
    }

    private static int ReadFunctions(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++) m.FunctionTypes.Add(s.ReadIndex());
        return count;
    }

    private static void ReadTables(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++) m.Tables.Add(ReadTableType(ref s));
    }

    private static void ReadMemories(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++) m.Memories.Add(new MemoryType(ReadLimits(ref s, memory: true, m.Features)));
    }

    private static void ReadGlobals(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++)
        {
            var gt = ReadGlobalType(ref s);
            m.Globals.Add((gt, ReadConstExpr(ref s)));
        }
    }

    private static void ReadExports(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++)
        {
            string name = s.ReadName();
            byte kind = s.ReadByte();
            if (kind > 3) { s.Position--; s.Fail("malformed export kind"); }
            m.Exports.Add(new Export(name, (ExternalKind)kind, s.ReadIndex()));
        }
    }

    /// <summary>Reads a constant expression (spec 3.3.10 / 5.4.9): one constant instruction then end.</summary>
    internal static ConstExpr ReadConstExpr(ref WasmReader s)
    {
        int offset = s.Position;
        byte op = s.ReadByte();
        ConstExpr e;
        switch (op)
        {
            case ConstExpr.I32Const: e = new ConstExpr(op, (uint)s.ReadS32(), 0, ValType.I32, offset); break;
            case ConstExpr.I64Const: e = new ConstExpr(op, (ulong)s.ReadS64(), 0, ValType.I64, offset); break;
            case ConstExpr.F32Const: e = new ConstExpr(op, s.ReadF32Bits(), 0, ValType.F32, offset); break;
            case ConstExpr.F64Const: e = new ConstExpr(op, s.ReadF64Bits(), 0, ValType.F64, offset); break;
            case ConstExpr.GlobalGet: e = new ConstExpr(op, 0, s.ReadIndex(), ValType.Unknown, offset); break;
            case ConstExpr.RefNull: e = new ConstExpr(op, 0, 0, ReadRefType(ref s), offset); break;
            case ConstExpr.RefFunc: e = new ConstExpr(op, 0, s.ReadIndex(), ValType.FuncRef, offset); break;
            case 0x0B: s.Position--; s.Invalid("type mismatch: empty constant expression"); return default;
            default:
                s.Position--;
                if (!OpcodeTables.IsDefined(op)) s.Fail($"illegal opcode 0x{op:x2}");
                s.Invalid("constant expression required");
                return default;
        }
        byte next = s.ReadByte();
        if (next != 0x0B)
        {
            s.Position--;
            if (next is ConstExpr.I32Const or ConstExpr.I64Const or ConstExpr.F32Const or ConstExpr.F64Const
                or ConstExpr.GlobalGet or ConstExpr.RefNull or ConstExpr.RefFunc)
                s.Invalid("type mismatch: constant expression leaves more than one value");
            s.Invalid("constant expression required");
        }
        return e;
    }

    private static ConstExpr[] ReadFuncIndexItems(ref WasmReader s)
    {
        int n = s.ReadIndex();
        if (n > s.End - s.Position) s.Fail("unexpected end");
        var items = new ConstExpr[n];
        for (int i = 0; i < n; i++)
        {
            int at = s.Position;
            items[i] = new ConstExpr(ConstExpr.RefFunc, 0, s.ReadIndex(), ValType.FuncRef, at);
        }
        return items;
    }

    private static ConstExpr[] ReadExprItems(ref WasmReader s)
    {
        int n = s.ReadIndex();
        if (n > s.End - s.Position) s.Fail("unexpected end");
        var items = new ConstExpr[n];
        for (int i = 0; i < n; i++) items[i] = ReadConstExpr(ref s);
        return items;
    }

    private static void ReadElemKind(ref WasmReader s)
    {
        if (s.ReadByte() != 0x00) { s.Position--; s.Fail("malformed element kind"); }
    }

    private static void ReadElements(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++)
        {
            uint flags = s.ReadU32();
            ElementSegment seg;
            switch (flags)
            {
                case 0: { var off = ReadConstExpr(ref s); seg = new(SegmentMode.Active, 0, off, ValType.FuncRef, ReadFuncIndexItems(ref s)); break; }
                case 1: ReadElemKind(ref s); seg = new(SegmentMode.Passive, 0, default, ValType.FuncRef, ReadFuncIndexItems(ref s)); break;
                case 2:
                {
                    int table = s.ReadIndex();
                    var off = ReadConstExpr(ref s);
                    ReadElemKind(ref s);
                    seg = new(SegmentMode.Active, table, off, ValType.FuncRef, ReadFuncIndexItems(ref s));
                    break;
                }
                case 3: ReadElemKind(ref s); seg = new(SegmentMode.Declarative, 0, default, ValType.FuncRef, ReadFuncIndexItems(ref s)); break;
                case 4: { var off = ReadConstExpr(ref s); seg = new(SegmentMode.Active, 0, off, ValType.FuncRef, ReadExprItems(ref s)); break; }
                case 5: { var t = ReadRefType(ref s); seg = new(SegmentMode.Passive, 0, default, t, ReadExprItems(ref s)); break; }
                case 6:
                {
                    int table = s.ReadIndex();
                    var off = ReadConstExpr(ref s);
                    var t = ReadRefType(ref s);
                    seg = new(SegmentMode.Active, table, off, t, ReadExprItems(ref s));
                    break;
                }
                case 7: { var t = ReadRefType(ref s); seg = new(SegmentMode.Declarative, 0, default, t, ReadExprItems(ref s)); break; }
                default: s.Fail("malformed elements segment kind"); return;
            }
            m.Elements.Add(seg);
        }
    }

    private static void ReadCode(ref WasmReader s, ModuleDefinition m, int functionCount)
    {
        int count = s.ReadIndex();
        if (count != Math.Max(functionCount, 0)) s.Fail("function and code section have inconsistent lengths");
        for (int i = 0; i < count; i++)
        {
            uint size = s.ReadU32();
            if (size > (uint)(s.End - s.Position)) s.Fail("unexpected end of section or function");
            int end = s.Position + (int)size;
            var body = new WasmReader(s.Bytes, s.Position, end, "code");
            int groups = body.ReadIndex();
            ulong total = 0;
            var counts = new (uint Count, ValType Type)[groups];
            for (int g = 0; g < groups; g++)
            {
                uint n = body.ReadU32();
                total += n;
                if (total > uint.MaxValue) body.Fail("too many locals");
                counts[g] = (n, ReadValType(ref body));
            }
            if (total > MaxLocals)
                throw new WasmModuleException(ModuleErrorKind.Unsupported, "code", body.Position, $"too many locals ({total}; this engine allows {MaxLocals})");
            var locals = new ValType[total];
            int k = 0;
            foreach (var (n, t) in counts)
                for (uint j = 0; j < n; j++) locals[k++] = t;
            m.Bodies.Add(new FunctionBody(locals, body.Position, end));
            s.Position = end;
        }
    }

    private static void ReadData(ref WasmReader s, ModuleDefinition m)
    {
        int count = s.ReadIndex();
        for (int i = 0; i < count; i++)
        {
            uint flags = s.ReadU32();
            DataSegment seg;
            switch (flags)
            {
                case 0: { var off = ReadConstExpr(ref s); seg = new(SegmentMode.Active, 0, off, ReadByteVector(ref s)); break; }
                case 1: seg = new(SegmentMode.Passive, 0, default, ReadByteVector(ref s)); break;
                case 2: { int mem = s.ReadIndex(); var off = ReadConstExpr(ref s); seg = new(SegmentMode.Active, mem, off, ReadByteVector(ref s)); break; }
                default: s.Fail("malformed data segment kind"); return;
            }
            m.Data.Add(seg);
        }
    }

    private static byte[] ReadByteVector(ref WasmReader s)
    {
        int n = s.ReadIndex();
        return s.ReadBytes(n).ToArray();
    }
}

using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Validation;

/// <summary>Module validation (spec 3.4): everything outside function bodies, then each body.</summary>
public static class ModuleValidator
{
    private const ulong MaxPages32 = 65536;
    private const ulong MaxPages64 = 1UL << 48;

    public static void Validate(ModuleDefinition m, WasmFeatures? features = null)
    {
        features ??= WasmFeatures.Default;
        if (!features.ReferenceTypes && m.Tables.Count > 1) throw Invalid.At("table", m.SectionOffset("table"), "multiple tables");
        foreach (var import in m.Imports)
        {
            if (import.Kind == ExternalKind.Function && (uint)import.TypeIndex >= (uint)m.Types.Count)
                throw Invalid.At("import", m.SectionOffset("import"), "unknown type");
        }
        for (int i = m.ImportedFunctionCount; i < m.FunctionTypes.Count; i++)
            if ((uint)m.FunctionTypes[i] >= (uint)m.Types.Count) throw Invalid.At("function", m.SectionOffset("function"), "unknown type");

        foreach (var t in m.Tables) CheckLimits("table", m.SectionOffset("table"), t.Limits, uint.MaxValue);
        if (m.Memories.Count > 1) throw Invalid.At("memory", m.SectionOffset("memory"), "multiple memories");
        foreach (var mem in m.Memories)
        {
            CheckLimits("memory", m.SectionOffset("memory"), mem.Limits, mem.Is64 ? MaxPages64 : MaxPages32);
            if (mem.Shared && mem.Limits.Max is null) throw Invalid.At("memory", m.SectionOffset("memory"), "shared memory must have maximum");
        }

        var refs = new HashSet<int>();
        for (int i = m.ImportedGlobalCount; i < m.Globals.Count; i++)
        {
            var (type, init) = m.Globals[i];
            // Constant expressions see only imported globals (Wasm 2.0, spec 3.4.10, context C').
            CheckConst("global", m, init, type.Type, m.ImportedGlobalCount, refs);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in m.Exports)
        {
            if (!names.Add(e.Name)) throw Invalid.At("export", m.SectionOffset("export"), $"duplicate export name \"{e.Name}\"");
            int count = e.Kind switch
            {
                ExternalKind.Function => m.FunctionTypes.Count,
                ExternalKind.Table => m.Tables.Count,
                ExternalKind.Memory => m.Memories.Count,
                _ => m.Globals.Count,
            };
            if ((uint)e.Index >= (uint)count) throw Invalid.At("export", m.SectionOffset("export"), $"unknown {e.Kind.ToString().ToLowerInvariant()} {e.Index}");
            if (e.Kind == ExternalKind.Function) refs.Add(e.Index);
        }

        if (m.Start is { } start)
        {
            if ((uint)start >= (uint)m.FunctionTypes.Count) throw Invalid.At("start", m.SectionOffset("start"), "unknown function");
            var ft = m.FunctionType(start);
            if (ft.Params.Length != 0 || ft.Results.Length != 0) throw Invalid.At("start", m.SectionOffset("start"), "start function must have type [] -> []");
        }

        foreach (var seg in m.Elements)
        {
            if (seg.Mode == SegmentMode.Active)
            {
                if ((uint)seg.TableIndex >= (uint)m.Tables.Count) throw Invalid.At("element", seg.Offset.Offset, "unknown table");
                if (m.Tables[seg.TableIndex].ElementType != seg.ElementType) throw Invalid.At("element", seg.Offset.Offset, "type mismatch: segment and table element types differ");
                CheckConst("element", m, seg.Offset, ValType.I32, m.ImportedGlobalCount, refs);
            }
            foreach (var item in seg.Items) CheckConst("element", m, item, seg.ElementType, m.ImportedGlobalCount, refs);
        }

        foreach (var seg in m.Data)
        {
            if (seg.Mode != SegmentMode.Active) continue;
            if (seg.MemoryIndex != 0 || m.Memories.Count == 0) throw Invalid.At("data", seg.Offset.Offset, $"unknown memory {seg.MemoryIndex}");
            CheckConst("data", m, seg.Offset, m.Memories[0].Is64 ? ValType.I64 : ValType.I32, m.ImportedGlobalCount, refs);
        }

        var context = new ValidationContext { Module = m, DeclaredFunctionReferences = refs };
        var validator = new FunctionValidator(context);
        for (int i = 0; i < m.Bodies.Count; i++) validator.Validate(m.ImportedFunctionCount + i, m.Bodies[i]);
    }

    private static void CheckLimits(string section, int offset, Limits limits, ulong bound)
    {
        if (limits.Min > bound) throw Invalid.At(section, offset, section == "memory" ? "memory size must be at most 65536 pages (4GiB)" : "table size out of range");
        if (limits.Max is { } max)
        {
            if (max > bound) throw Invalid.At(section, offset, section == "memory" ? "memory size must be at most 65536 pages (4GiB)" : "table size out of range");
            if (limits.Min > max) throw Invalid.At(section, offset, "size minimum must not be greater than maximum");
        }
    }

    /// <summary>Constant expressions (spec 3.3.10): type, and global.get only of visible immutable globals.</summary>
    private static void CheckConst(string section, ModuleDefinition m, ConstExpr e, ValType expected, int visibleGlobals, HashSet<int> refs)
    {
        ValType actual;
        switch (e.Opcode)
        {
            case ConstExpr.GlobalGet:
                if ((uint)e.Index >= (uint)visibleGlobals) throw Invalid.At(section, e.Offset, "unknown global");
                var g = m.Globals[e.Index].Type;
                if (g.Mutable) throw Invalid.At(section, e.Offset, "constant expression required");
                actual = g.Type;
                break;
            case ConstExpr.RefFunc:
                if ((uint)e.Index >= (uint)m.FunctionTypes.Count) throw Invalid.At(section, e.Offset, "unknown function");
                refs.Add(e.Index);
                actual = ValType.FuncRef;
                break;
            default:
                actual = e.RefType;
                break;
        }
        if (actual != expected) throw Invalid.At(section, e.Offset, $"type mismatch: constant expression is {actual.Name()}, expected {expected.Name()}");
    }
}

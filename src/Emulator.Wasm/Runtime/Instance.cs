using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>A module instance (spec 4.2.5): its exports by name, and the context its compiled code runs against.</summary>
public sealed class Instance
{
    internal InstanceContext Context { get; }
    private readonly Dictionary<string, object> _exports;

    public Module Module { get; }

    private Instance(Module module, InstanceContext context, Dictionary<string, object> exports)
    {
        Module = module;
        Context = context;
        _exports = exports;
    }

    public IReadOnlyDictionary<string, object> Exports => _exports;

    public WasmFunction GetFunction(string name) => Get<WasmFunction>(name);

    /// <summary>An exported function as a typed delegate: calls it without boxing.</summary>
    public T GetFunction<T>(string name) where T : Delegate => GetFunction(name).CreateDelegate<T>();

    public Memory GetMemory(string name) => Get<Memory>(name);

    public Table GetTable(string name) => Get<Table>(name);

    public Global GetGlobal(string name) => Get<Global>(name);

    private T Get<T>(string name) where T : class =>
        _exports.TryGetValue(name, out var value) && value is T t ? t : throw new KeyNotFoundException($"no exported {typeof(T).Name.ToLowerInvariant()} named \"{name}\"");

    /// <summary>
    /// Instantiation (spec 4.5.4): resolve and check imports, allocate, initialise globals, then apply
    /// active element and data segments in order (a trap leaves earlier writes in place), then run start.
    /// </summary>
    public static Instance Create(Module module, Imports imports)
    {
        var m = module.Definition;
        var context = new InstanceContext();
        var functions = new WasmFunction[m.FunctionTypes.Count];
        var tables = new Table[m.Tables.Count];
        var globals = new Global[m.Globals.Count];
        Memory? memory = null;
        int fi = 0, ti = 0, gi = 0;
        foreach (var import in m.Imports)
        {
            if (!imports.TryGet(import.Module, import.Name, out var value))
                throw new WasmLinkException($"unknown import \"{import.Module}\".\"{import.Name}\"");
            switch (import.Kind)
            {
                case ExternalKind.Function:
                    var expected = m.Types[import.TypeIndex];
                    if (value is not WasmFunction f || f.TypeId != expected.Id)
                        throw Incompatible(import, $"expected a function of type {expected}");
                    functions[fi++] = f;
                    break;
                case ExternalKind.Table:
                    if (value is not Table t || t.ElementType != import.Table.ElementType || !t.Type.Limits.IsSubtypeOf(import.Table.Limits))
                        throw Incompatible(import, "table type mismatch");
                    tables[ti++] = t;
                    break;
                case ExternalKind.Memory:
                    if (value is not Memory mem || mem.IsShared != import.Memory.Shared || mem.Is64 != import.Memory.Is64
                        || !mem.Type.Limits.IsSubtypeOf(import.Memory.Limits))
                        throw Incompatible(import, "memory type mismatch");
                    memory = mem;
                    break;
                case ExternalKind.Global:
                    if (value is not Global g || g.Type != import.Global)
                        throw Incompatible(import, "global type mismatch");
                    globals[gi++] = g;
                    break;
            }
        }

        for (int i = m.ImportedFunctionCount; i < functions.Length; i++)
        {
            int defined = i - m.ImportedFunctionCount;
            functions[i] = new WasmFunction(m.FunctionType(i), context, module.Methods[defined], module.Pointers[defined]);
        }
        for (int i = m.ImportedTableCount; i < tables.Length; i++) tables[i] = new Table(m.Tables[i]);
        if (memory is null && m.Memories.Count > 0) memory = new Memory(m.Memories[0]);
        context.Functions = functions;
        context.Tables = tables;
        context.Memory = memory;
        context.Globals = globals;
        for (int i = m.ImportedGlobalCount; i < globals.Length; i++)
        {
            var (type, init) = m.Globals[i];
            var (bits, reference) = Evaluate(init, context);
            var g = new Global(type);
            g.SetBits(bits, reference);
            globals[i] = g;
        }

        var exports = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var e in m.Exports)
        {
            exports[e.Name] = e.Kind switch
            {
                ExternalKind.Function => functions[e.Index],
                ExternalKind.Table => tables[e.Index],
                ExternalKind.Memory => memory!,
                _ => globals[e.Index],
            };
        }

        context.Elements = new object?[]?[m.Elements.Count];
        for (int i = 0; i < m.Elements.Count; i++)
        {
            var seg = m.Elements[i];
            var items = new object?[seg.Items.Length];
            for (int k = 0; k < items.Length; k++) items[k] = Evaluate(seg.Items[k], context).Reference;
            context.Elements[i] = seg.Mode == SegmentMode.Passive ? items : null;
            if (seg.Mode == SegmentMode.Active)
            {
                context.Elements[i] = items;
                int offset = (int)Evaluate(seg.Offset, context).Bits;
                TableHelpers.Init(offset, 0, items.Length, i, seg.TableIndex, context);
                context.Elements[i] = null;
            }
        }

        context.Data = new byte[]?[m.Data.Count];
        for (int i = 0; i < m.Data.Count; i++)
        {
            var seg = m.Data[i];
            context.Data[i] = seg.Bytes;
            if (seg.Mode == SegmentMode.Active)
            {
                long offset = Evaluate(seg.Offset, context).Bits;
                if (memory!.Is64) MemoryHelpers.Init64(offset, 0, seg.Bytes.Length, i, context);
                else MemoryHelpers.Init32((int)offset, 0, seg.Bytes.Length, i, context);
                context.Data[i] = null;
            }
        }

        var instance = new Instance(module, context, exports);
        if (m.Start is { } start) functions[start].Invoke();
        return instance;
    }

    private static WasmLinkException Incompatible(Import import, string detail) =>
        new($"incompatible import type for \"{import.Module}\".\"{import.Name}\": {detail}");

    /// <summary>Evaluates a constant expression (spec 4.4.10) to raw bits or a reference.</summary>
    private static (long Bits, object? Reference) Evaluate(ConstExpr e, InstanceContext context) => e.Opcode switch
    {
        ConstExpr.GlobalGet => (context.Globals[e.Index].Bits, context.Globals[e.Index].Ref),
        ConstExpr.RefFunc => (0, context.Functions[e.Index]),
        ConstExpr.RefNull => (0, null),
        _ => ((long)e.Bits, null),
    };
}

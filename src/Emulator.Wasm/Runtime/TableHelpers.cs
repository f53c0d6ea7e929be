namespace Emulator.Wasm.Runtime;

/// <summary>Table instructions (spec 4.4.6) and call_indirect's checks (spec 4.4.8).</summary>
public static class TableHelpers
{
    /// <summary>call_indirect: element bounds, non-null, then signature by canonical type id.</summary>
    public static WasmFunction ResolveIndirect(int index, int typeId, Table table)
    {
        var elements = table.Elements;
        if ((uint)index >= (uint)elements.Length) Trap.Throw(TrapKind.UndefinedElement);
        if (elements[index] is not WasmFunction f) { Trap.Throw(TrapKind.UninitializedElement); return null; }
        if (f.TypeId != typeId) Trap.Throw(TrapKind.IndirectCallTypeMismatch);
        return f;
    }

    public static object? Get(int index, Table table)
    {
        var elements = table.Elements;
        if ((uint)index >= (uint)elements.Length) Trap.TableOutOfBounds();
        return elements[index];
    }

    public static void Set(int index, object? value, Table table)
    {
        var elements = table.Elements;
        if ((uint)index >= (uint)elements.Length) Trap.TableOutOfBounds();
        elements[index] = value;
    }

    public static int Size(Table table) => table.Elements.Length;

    public static int Grow(object? init, int delta, Table table) => table.Grow((uint)delta, init);

    private static void CheckRange(uint start, uint count, int limit)
    {
        if ((ulong)start + count > (ulong)limit) Trap.TableOutOfBounds();
    }

    public static void Fill(int start, object? value, int count, Table table)
    {
        CheckRange((uint)start, (uint)count, table.Elements.Length);
        Array.Fill(table.Elements, value, start, count);
    }

    /// <summary>table.init (spec 4.4.6): both ranges are checked before anything is written.</summary>
    public static void Init(int destination, int source, int count, int segment, int tableIndex, InstanceContext context)
    {
        var table = context.Tables[tableIndex];
        var items = context.Elements[segment] ?? Array.Empty<object?>();
        CheckRange((uint)source, (uint)count, items.Length);
        CheckRange((uint)destination, (uint)count, table.Elements.Length);
        Array.Copy(items, source, table.Elements, destination, count);
    }

    public static void ElementDrop(int segment, InstanceContext context) => context.Elements[segment] = null;

    public static void Copy(int destination, int source, int count, int destinationTable, int sourceTable, InstanceContext context)
    {
        var dst = context.Tables[destinationTable];
        var src = context.Tables[sourceTable];
        CheckRange((uint)source, (uint)count, src.Elements.Length);
        CheckRange((uint)destination, (uint)count, dst.Elements.Length);
        Array.Copy(src.Elements, source, dst.Elements, destination, count);
    }
}

using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>A table of references (spec 4.2.7): funcref entries are <see cref="WasmFunction"/>, externref any object.</summary>
public sealed class Table
{
    /// <summary>Engine limit on table size, far above what real modules use.</summary>
    public const uint EngineMaxSize = 10_000_000;

    internal object?[] Elements;
    private readonly uint _max;

    public ValType ElementType { get; }
    public uint? DeclaredMax { get; }
    public int Size => Elements.Length;

    public Table(TableType type)
    {
        ElementType = type.ElementType;
        DeclaredMax = (uint?)type.Limits.Max;
        _max = (uint)Math.Min(type.Limits.Max ?? EngineMaxSize, EngineMaxSize);
        if (type.Limits.Min > _max) throw new WasmLinkException("table minimum exceeds the engine limit");
        Elements = new object?[type.Limits.Min];
    }

    public TableType Type => new(ElementType, new Limits((ulong)Elements.Length, DeclaredMax));

    /// <summary>table.grow (spec 4.4.6): the old size, or -1.</summary>
    public int Grow(uint delta, object? init)
    {
        uint old = (uint)Elements.Length;
        if ((ulong)old + delta > _max) return -1;
        var fresh = new object?[old + delta];
        Array.Copy(Elements, fresh, old);
        if (init is not null) Array.Fill(fresh, init, (int)old, (int)delta);
        Elements = fresh;
        return (int)old;
    }

    public object? this[int index]
    {
        get => (uint)index < (uint)Elements.Length ? Elements[index] : throw new WasmTrap(TrapKind.TableOutOfBounds);
        set
        {
            if ((uint)index >= (uint)Elements.Length) throw new WasmTrap(TrapKind.TableOutOfBounds);
            Elements[index] = value;
        }
    }
}

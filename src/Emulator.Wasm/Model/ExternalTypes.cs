namespace Emulator.Wasm.Model;

/// <summary>Limits of a table or memory (spec 2.3.4), with the threads and memory64 flags.</summary>
public readonly record struct Limits(ulong Min, ulong? Max, bool Shared = false, bool Is64 = false)
{
    /// <summary>Import matching (spec 4.5.2, "Limits"): the provider's range must lie inside the import's.</summary>
    public bool IsSubtypeOf(Limits import) =>
        Min >= import.Min && (import.Max is not { } im || (Max is { } m && m <= im));
}

public readonly record struct TableType(ValType ElementType, Limits Limits);

public readonly record struct MemoryType(Limits Limits)
{
    public bool Is64 => Limits.Is64;
    public bool Shared => Limits.Shared;
}

public readonly record struct GlobalType(ValType Type, bool Mutable);

public enum ExternalKind : byte
{
    Function = 0,
    Table = 1,
    Memory = 2,
    Global = 3,
}

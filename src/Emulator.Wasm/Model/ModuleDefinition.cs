namespace Emulator.Wasm.Model;

/// <summary>The decoded form of a module binary (spec 2.5): plain data, no validation implied.</summary>
public sealed class ModuleDefinition
{
    public required byte[] Bytes { get; init; }
    public required Validation.WasmFeatures Features { get; init; }
    public List<FuncType> Types { get; } = new();
    public List<Import> Imports { get; } = new();

    /// <summary>Type index of every function, imported ones first (the function index space).</summary>
    public List<int> FunctionTypes { get; } = new();
    public List<TableType> Tables { get; } = new();
    public List<MemoryType> Memories { get; } = new();
    public List<(GlobalType Type, ConstExpr Init)> Globals { get; } = new();
    public List<Export> Exports { get; } = new();
    public int? Start { get; set; }
    public List<ElementSegment> Elements { get; } = new();
    public List<DataSegment> Data { get; } = new();
    public int? DataCount { get; set; }
    public List<FunctionBody> Bodies { get; } = new();
    public List<CustomSection> CustomSections { get; } = new();

    public int ImportedFunctionCount { get; set; }
    public int ImportedTableCount { get; set; }
    public int ImportedMemoryCount { get; set; }
    public int ImportedGlobalCount { get; set; }

    /// <summary>Byte offset of each section's content, by section name, for error messages.</summary>
    public Dictionary<string, int> SectionOffsets { get; } = new();

    public int SectionOffset(string section) => SectionOffsets.GetValueOrDefault(section);

    public FuncType FunctionType(int funcIndex) => Types[FunctionTypes[funcIndex]];
}

namespace Emulator.Wasm.Runtime;

/// <summary>
/// The values offered to a module's imports, by module and field name: host delegates, or the
/// <see cref="WasmFunction"/>, <see cref="Table"/>, <see cref="Memory"/> and <see cref="Global"/>
/// exported by other instances.
/// </summary>
public sealed class Imports
{
    private readonly Dictionary<(string Module, string Name), object> _values = new();

    public Imports Define(string module, string name, WasmFunction function) => Set(module, name, function);
    public Imports Define(string module, string name, Table table) => Set(module, name, table);
    public Imports Define(string module, string name, Memory memory) => Set(module, name, memory);
    public Imports Define(string module, string name, Global global) => Set(module, name, global);

    /// <summary>A host function from a typed delegate, e.g. <c>(Func&lt;int, int&gt;)(x =&gt; x + 1)</c>.</summary>
    public Imports Define(string module, string name, Delegate host) => Set(module, name, HostFunction.Create(host));

    /// <summary>Offers every export of <paramref name="instance"/> under <paramref name="module"/> (the spec tests' register).</summary>
    public Imports Define(string module, Instance instance)
    {
        foreach (var (name, value) in instance.Exports) _values[(module, name)] = value;
        return this;
    }

    public bool TryGet(string module, string name, out object value) => _values.TryGetValue((module, name), out value!);

    private Imports Set(string module, string name, object value)
    {
        _values[(module, name)] = value;
        return this;
    }
}

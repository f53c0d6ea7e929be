using System.Reflection.Emit;
using Emulator.Wasm.Compilation;
using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;
using Emulator.Wasm.Validation;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// A decoded, validated and compiled module. Compiled once, instantiated any number of times: the code
/// takes its instance as an argument.
/// </summary>
public sealed class Module
{
    public ModuleDefinition Definition { get; }
    internal DynamicMethod[] Methods { get; }
    internal nint[] Pointers { get; }

    private Module(ModuleDefinition definition, DynamicMethod[] methods, nint[] pointers)
    {
        Definition = definition;
        Methods = methods;
        Pointers = pointers;
    }

    /// <summary>Decodes and validates only; throws <see cref="WasmModuleException"/> for a refused module.</summary>
    public static ModuleDefinition DecodeAndValidate(byte[] bytes, WasmFeatures? features = null)
    {
        var definition = ModuleDecoder.Decode(bytes, features);
        ModuleValidator.Validate(definition, features);
        return definition;
    }

    /// <summary>Decodes, validates and compiles; throws <see cref="WasmModuleException"/> for a refused module.</summary>
    public static Module Compile(byte[] bytes, WasmFeatures? features = null)
    {
        var definition = DecodeAndValidate(bytes, features);
        var (methods, pointers) = ModuleCompiler.Compile(definition);
        return new Module(definition, methods, pointers);
    }

    /// <summary>
    /// Has the .NET JIT compile every function now, on the calling thread, instead of at its
    /// first call (a host that compiles modules off its hot threads calls this there too).
    /// </summary>
    public void CompileNative() => CallingConvention.Prepare(Methods);

    public IEnumerable<Import> Imports => Definition.Imports;

    public IEnumerable<Export> Exports => Definition.Exports;
}

/// <summary>The engine: compiles modules and instantiates them. Stateless today; kept as the entry point.</summary>
public sealed class Engine
{
    public Module Compile(byte[] bytes) => Module.Compile(bytes);

    public Instance Instantiate(Module module, Imports? imports = null) => Instance.Create(module, imports ?? new Imports());

    public Instance Instantiate(byte[] bytes, Imports? imports = null) => Instantiate(Compile(bytes), imports);
}

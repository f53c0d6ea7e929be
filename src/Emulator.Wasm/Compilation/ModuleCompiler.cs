using System.Reflection.Emit;
using Emulator.Wasm.Model;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.Compilation;

/// <summary>
/// Compiles every function body of a validated module to a collectible <see cref="DynamicMethod"/>.
/// All methods are declared first so that direct calls can name their callee.
/// </summary>
internal sealed class ModuleCompiler
{
    public ModuleDefinition Definition { get; }
    public DynamicMethod[] Methods { get; }

    private ModuleCompiler(ModuleDefinition definition)
    {
        Definition = definition;
        Methods = new DynamicMethod[definition.Bodies.Count];
        for (int i = 0; i < Methods.Length; i++)
        {
            int index = definition.ImportedFunctionCount + i;
            Methods[i] = CallingConvention.NewMethod($"wasm_f{index}", definition.FunctionType(index));
        }
    }

    public static (DynamicMethod[] Methods, nint[] Pointers) Compile(ModuleDefinition definition)
    {
        var compiler = new ModuleCompiler(definition);
        for (int i = 0; i < compiler.Methods.Length; i++) compiler.CompileFunction(i);
        return (compiler.Methods, CallingConvention.FunctionPointers(compiler.Methods));
    }

    private void CompileFunction(int definedIndex)
    {
        int index = Definition.ImportedFunctionCount + definedIndex;
        new FunctionCompiler(this, Methods[definedIndex], Definition.FunctionType(index), Definition.Bodies[definedIndex]).Compile();
    }
}

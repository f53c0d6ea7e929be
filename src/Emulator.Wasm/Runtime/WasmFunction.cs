using System.Reflection;
using System.Reflection.Emit;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// A function instance (spec 4.2.6) and the funcref value that names it. Compiled code calls it by
/// <c>calli</c> through <see cref="Pointer"/>, passing <see cref="Context"/> as the last argument.
/// </summary>
public sealed class WasmFunction
{
    internal readonly InstanceContext Context;
    internal readonly nint Pointer;
    internal readonly int TypeId;

    /// <summary>Keeps the collectible compiled code alive for as long as the function is reachable.</summary>
    internal readonly DynamicMethod Method;

    public FuncType Type { get; }

    internal WasmFunction(FuncType type, InstanceContext context, DynamicMethod method, nint pointer)
    {
        Type = type;
        TypeId = type.Id;
        Context = context;
        Method = method;
        Pointer = pointer;
    }

    /// <summary>
    /// Calls the function with boxed arguments and returns boxed results (int, long, float, double or a
    /// reference). Reflection-based: for tests and tools, not hot paths; use <see cref="CreateDelegate{T}"/> there.
    /// </summary>
    public object?[] Invoke(params object?[] args)
    {
        var ps = Type.Params;
        var rs = Type.Results;
        if (args.Length != ps.Length) throw new ArgumentException($"expected {ps.Length} arguments, got {args.Length}");
        var callArgs = new object?[ps.Length + Math.Max(rs.Length - 1, 0) + 1];
        args.CopyTo(callArgs, 0);
        for (int i = 1; i < rs.Length; i++) callArgs[ps.Length + i - 1] = DefaultOf(rs[i]);
        callArgs[^1] = Context;
        object? first = Method.Invoke(null, BindingFlags.DoNotWrapExceptions, null, callArgs, null);
        var results = new object?[rs.Length];
        if (rs.Length > 0) results[0] = first;
        for (int i = 1; i < rs.Length; i++) results[i] = callArgs[ps.Length + i - 1];
        return results;
    }

    private static object? DefaultOf(ValType t) => t switch
    {
        ValType.I32 => 0,
        ValType.I64 => 0L,
        ValType.F32 => 0f,
        ValType.F64 => 0d,
        _ => null,
    };

    /// <summary>
    /// A typed delegate (for example <c>Func&lt;int, int, int&gt;</c>) that calls the function without boxing.
    /// The delegate's signature must match the Wasm type exactly (i32=int, i64=long, f32=float, f64=double,
    /// references=object); functions with more than one result are not supported here.
    /// </summary>
    public T CreateDelegate<T>() where T : Delegate => (T)CreateDelegate(typeof(T));

    public Delegate CreateDelegate(Type delegateType)
    {
        var invoke = delegateType.GetMethod("Invoke") ?? throw new ArgumentException("not a delegate type");
        var ps = invoke.GetParameters().Select(p => p.ParameterType).ToArray();
        if (Type.Results.Length > 1) throw new ArgumentException("functions with several results cannot be called through a typed delegate");
        var expectedReturn = Type.Results.Length == 0 ? typeof(void) : Type.Results[0].ClrType();
        if (invoke.ReturnType != expectedReturn || ps.Length != Type.Params.Length
            || !ps.Zip(Type.Params).All(p => p.First == p.Second.ClrType()))
            throw new ArgumentException($"delegate {delegateType.Name} does not match the function type {Type}");

        // Adapter (closed over the callee's context): reorders the context to the last argument.
        var adapterParams = new Type[ps.Length + 1];
        adapterParams[0] = typeof(InstanceContext);
        ps.CopyTo(adapterParams, 1);
        var adapter = new DynamicMethod("wasm_adapter", invoke.ReturnType, adapterParams, typeof(WasmFunction).Module, skipVisibility: true);
        var il = adapter.GetILGenerator();
        for (int i = 0; i < ps.Length; i++) il.Emit(OpCodes.Ldarg, (short)(i + 1));
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Call, Method);
        il.Emit(OpCodes.Ret);
        return adapter.CreateDelegate(delegateType, Context);
    }
}

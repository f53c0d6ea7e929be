using System.Reflection.Emit;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>
/// How a Wasm function type maps to a CIL signature: the Wasm parameters, then one byref per result
/// after the first (multi-value), then the <see cref="InstanceContext"/>; the first result is the return
/// value. The context goes last so that a call site can push it after the arguments already on the stack.
/// </summary>
internal static class CallingConvention
{
    public static Type ReturnType(FuncType t) => t.Results.Length == 0 ? typeof(void) : t.Results[0].ClrType();

    public static Type[] ParameterTypes(FuncType t)
    {
        int extra = Math.Max(t.Results.Length - 1, 0);
        var types = new Type[t.Params.Length + extra + 1];
        for (int i = 0; i < t.Params.Length; i++) types[i] = t.Params[i].ClrType();
        for (int i = 0; i < extra; i++) types[t.Params.Length + i] = t.Results[i + 1].ClrType().MakeByRefType();
        types[^1] = typeof(InstanceContext);
        return types;
    }

    public static DynamicMethod NewMethod(string name, FuncType t) =>
        new(name, ReturnType(t), ParameterTypes(t), typeof(CallingConvention).Module, skipVisibility: true);

    private static readonly System.Reflection.MethodInfo s_getMethodDescriptor =
        typeof(DynamicMethod).GetMethod("GetMethodDescriptor", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
        ?? throw new PlatformNotSupportedException("DynamicMethod.GetMethodDescriptor is not available on this runtime");

    /// <summary>
    /// Native entry points of dynamic methods, for calli. CIL cannot ldftn a DynamicMethod, so the runtime
    /// handle is taken through DynamicMethod's internal GetMethodDescriptor (see RATIONALE.md). The pointers
    /// stay valid while the <see cref="DynamicMethod"/> objects are reachable.
    /// </summary>
    /// <summary>JIT-compiles the methods now (DynamicMethods are otherwise compiled at their first call).</summary>
    public static void Prepare(IReadOnlyList<DynamicMethod> methods)
    {
        foreach (var m in methods)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod((RuntimeMethodHandle)s_getMethodDescriptor.Invoke(m, null)!);
        }
    }

    public static nint[] FunctionPointers(IReadOnlyList<DynamicMethod> methods)
    {
        var result = new nint[methods.Count];
        for (int i = 0; i < methods.Count; i++)
        {
            var handle = (RuntimeMethodHandle)s_getMethodDescriptor.Invoke(methods[i], null)!;
            result[i] = handle.GetFunctionPointer();
        }
        return result;
    }
}

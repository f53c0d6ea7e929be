using System.Reflection.Emit;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Runtime;

/// <summary>Turns a typed host delegate into a <see cref="WasmFunction"/> that Wasm code can import and call.</summary>
public static class HostFunction
{
    /// <summary>
    /// Wraps <paramref name="target"/>; its parameter and return types give the Wasm type (int=i32,
    /// long=i64, float=f32, double=f64, object=externref/funcref, void=no result).
    /// </summary>
    public static WasmFunction Create(Delegate target, ValType referenceType = ValType.ExternRef)
    {
        var invoke = target.GetType().GetMethod("Invoke")!;
        var ps = invoke.GetParameters().Select(p => ToValType(p.ParameterType, referenceType)).ToArray();
        var rs = invoke.ReturnType == typeof(void) ? Array.Empty<ValType>() : new[] { ToValType(invoke.ReturnType, referenceType) };
        var type = new FuncType(ps, rs);
        var stub = CallingConvention.NewMethod("wasm_host_stub", type);
        var il = stub.GetILGenerator();
        il.Emit(OpCodes.Ldarg, (short)ps.Length);
        il.Emit(OpCodes.Ldfld, typeof(InstanceContext).GetField(nameof(InstanceContext.HostTarget), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!);
        il.Emit(OpCodes.Castclass, target.GetType());
        for (int i = 0; i < ps.Length; i++) il.Emit(OpCodes.Ldarg, (short)i);
        il.Emit(OpCodes.Callvirt, invoke);
        il.Emit(OpCodes.Ret);
        var context = new InstanceContext { HostTarget = target };
        return new WasmFunction(type, context, stub, CallingConvention.FunctionPointers(new[] { stub })[0]);
    }

    private static ValType ToValType(Type t, ValType referenceType)
    {
        if (t == typeof(int)) return ValType.I32;
        if (t == typeof(long)) return ValType.I64;
        if (t == typeof(float)) return ValType.F32;
        if (t == typeof(double)) return ValType.F64;
        if (t == typeof(object)) return referenceType;
        throw new ArgumentException($"host functions take and return int, long, float, double or object, not {t.Name}");
    }
}

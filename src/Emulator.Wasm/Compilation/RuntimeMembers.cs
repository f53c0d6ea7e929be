using System.Reflection;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.Compilation;

/// <summary>The fields and helper methods compiled code refers to, resolved once.</summary>
internal static class RuntimeMembers
{
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    public static readonly FieldInfo ContextMemory = Field<InstanceContext>(nameof(InstanceContext.Memory));
    public static readonly FieldInfo ContextGlobals = Field<InstanceContext>(nameof(InstanceContext.Globals));
    public static readonly FieldInfo ContextTables = Field<InstanceContext>(nameof(InstanceContext.Tables));
    public static readonly FieldInfo ContextFunctions = Field<InstanceContext>(nameof(InstanceContext.Functions));
    public static readonly FieldInfo MemoryBase = Field<Memory>(nameof(Memory.Base));
    public static readonly FieldInfo MemoryLength = Field<Memory>(nameof(Memory.Length));
    public static readonly FieldInfo GlobalBits = Field<Global>(nameof(Global.Bits));
    public static readonly FieldInfo GlobalRef = Field<Global>(nameof(Global.Ref));
    public static readonly FieldInfo FunctionContext = Field<WasmFunction>(nameof(WasmFunction.Context));
    public static readonly FieldInfo FunctionPointer = Field<WasmFunction>(nameof(WasmFunction.Pointer));

    public static readonly MethodInfo CheckStack = Method(typeof(CallHelpers), nameof(CallHelpers.CheckStack));
    public static readonly MethodInfo UnreachableTrap = Method(typeof(RuntimeMembers), nameof(NewUnreachableTrap));
    public static readonly MethodInfo ResolveIndirect = Method(typeof(TableHelpers), nameof(TableHelpers.ResolveIndirect));
    public static readonly MethodInfo EffectiveAddress32 = Method(typeof(MemoryHelpers), nameof(MemoryHelpers.EffectiveAddress32));
    public static readonly MethodInfo EffectiveAddress64 = Method(typeof(MemoryHelpers), nameof(MemoryHelpers.EffectiveAddress64));
    public static readonly MethodInfo CheckAlignment = Method(typeof(AtomicHelpers), nameof(AtomicHelpers.CheckAlignment));

    public static Exception NewUnreachableTrap() => new WasmTrap(TrapKind.Unreachable);

    public static MethodInfo Numeric(string name) => Method(typeof(NumericHelpers), name);

    public static MethodInfo Method(Type type, string name) =>
        type.GetMethod(name, Any) ?? throw new MissingMethodException(type.Name, name);

    private static FieldInfo Field<T>(string name) =>
        typeof(T).GetField(name, Any) ?? throw new MissingFieldException(typeof(T).Name, name);
}

using System.Reflection.Emit;
using Emulator.Wasm.Model;
using Emulator.Wasm.Runtime;

namespace Emulator.Wasm.Compilation;

/// <summary>Locals, globals and tables (spec 4.4.5, 4.4.6).</summary>
internal sealed partial class FunctionCompiler
{
    private void LocalGet(int index)
    {
        if (index < _type.Params.Length) _il.Emit(OpCodes.Ldarg, (short)index);
        else _il.Emit(OpCodes.Ldloc, _locals[index]!);
        Push(_localTypes[index]);
    }

    private void LocalSet(int index)
    {
        Pop();
        if (index < _type.Params.Length) _il.Emit(OpCodes.Starg, (short)index);
        else _il.Emit(OpCodes.Stloc, _locals[index]!);
    }

    private void LocalTee(int index)
    {
        _il.Emit(OpCodes.Dup);
        Push(_stack[^1]);
        LocalSet(index);
    }

    private void LoadGlobalCell(int index)
    {
        LoadContext();
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextGlobals);
        LoadInt(index);
        _il.Emit(OpCodes.Ldelem_Ref);
    }

    private void GlobalGet(int index)
    {
        var t = _m.Globals[index].Type.Type;
        LoadGlobalCell(index);
        switch (t)
        {
            case ValType.I32:
                _il.Emit(OpCodes.Ldflda, RuntimeMembers.GlobalBits);
                _il.Emit(OpCodes.Ldind_I4);
                break;
            case ValType.I64:
                _il.Emit(OpCodes.Ldfld, RuntimeMembers.GlobalBits);
                break;
            case ValType.F32:
                _il.Emit(OpCodes.Ldflda, RuntimeMembers.GlobalBits);
                _il.Emit(OpCodes.Ldind_R4);
                break;
            case ValType.F64:
                _il.Emit(OpCodes.Ldflda, RuntimeMembers.GlobalBits);
                _il.Emit(OpCodes.Ldind_R8);
                break;
            default:
                _il.Emit(OpCodes.Ldfld, RuntimeMembers.GlobalRef);
                break;
        }
        Push(t);
    }

    private void GlobalSet(int index)
    {
        var t = Pop();
        var value = Temp(t, 101);
        _il.Emit(OpCodes.Stloc, value);
        LoadGlobalCell(index);
        if (t.IsReference())
        {
            _il.Emit(OpCodes.Ldloc, value);
            _il.Emit(OpCodes.Stfld, RuntimeMembers.GlobalRef);
            return;
        }
        _il.Emit(OpCodes.Ldflda, RuntimeMembers.GlobalBits);
        _il.Emit(OpCodes.Ldloc, value);
        _il.Emit(StoreIndirect(t));
    }

    private void CallHelper(Type type, string name) => _il.Emit(OpCodes.Call, RuntimeMembers.Method(type, name));

    private void TableGet(int table)
    {
        var t = _m.Tables[table].ElementType;
        Pop();
        LoadTable(table);
        CallHelper(typeof(TableHelpers), nameof(TableHelpers.Get));
        Push(t);
    }

    private void TableSet(int table)
    {
        Pop(2);
        LoadTable(table);
        CallHelper(typeof(TableHelpers), nameof(TableHelpers.Set));
    }
}

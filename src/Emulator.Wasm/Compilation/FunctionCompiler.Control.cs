using System.Reflection;
using System.Reflection.Emit;
using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Compilation;

/// <summary>Structured control flow and calls (spec 4.4.8).</summary>
internal sealed partial class FunctionCompiler
{
    private (ValType[] Params, ValType[] Results) ReadBlockType()
    {
        byte b = _r.PeekByte();
        if (b == 0x40) { _r.Position++; return (Array.Empty<ValType>(), Array.Empty<ValType>()); }
        if ((b & 0xC0) == 0x40) { _r.Position++; return (Array.Empty<ValType>(), new[] { (ValType)b }); }
        var ft = _m.Types[(int)_r.ReadS33()];
        return (ft.Params, ft.Results);
    }

    private void Block(byte kind)
    {
        var (ps, rs) = ReadBlockType();
        var frame = new ControlFrame { Kind = kind, Params = ps, Results = rs };
        if (kind == 0x04)
        {
            Pop(); // condition
            frame.Else = _il.DefineLabel();
            _il.Emit(OpCodes.Brfalse, frame.Else);
        }
        frame.Height = _stack.Count - ps.Length;
        frame.Target = _il.DefineLabel();
        if (kind == 0x03) _il.MarkLabel(frame.Target);
        _frames.Add(frame);
    }

    private void Else()
    {
        var frame = _frames[^1];
        if (!_dead)
        {
            _il.Emit(OpCodes.Br, frame.Target);
            frame.EndTargeted = true;
        }
        _il.MarkLabel(frame.Else);
        frame.Kind = 0x05;
        Truncate(frame.Height);
        Push(frame.Params);
        _dead = false;
    }

    private void End()
    {
        var frame = _frames[^1];
        _frames.RemoveAt(_frames.Count - 1);
        if (frame.Kind == 0x00)
        {
            if (!_dead) EmitReturn();
            if (frame.EndTargeted)
            {
                _il.MarkLabel(frame.Target);
                Truncate(0);
                Push(frame.Results);
                EmitReturn();
            }
            return;
        }
        bool reachable = !_dead || frame.EndTargeted || frame.Kind == 0x04;
        if (frame.Kind == 0x04) _il.MarkLabel(frame.Else); // if without else: the false path ends here
        if (frame.Kind != 0x03) _il.MarkLabel(frame.Target);
        Truncate(frame.Height);
        Push(frame.Results);
        _dead = !reachable;
    }

    /// <summary>
    /// Jumps to a label. CIL needs the same stack shape at every jump to a label, so operands between the
    /// label's height and its values are dropped: the values are parked in temps, the rest popped.
    /// Leaves the mirror stack unchanged.
    /// </summary>
    private void EmitBranchTo(ControlFrame target)
    {
        var types = target.LabelTypes;
        int surplus = _stack.Count - types.Length - target.Height;
        if (surplus > 0)
        {
            for (int i = types.Length - 1; i >= 0; i--) _il.Emit(OpCodes.Stloc, Temp(types[i], i));
            for (int i = 0; i < surplus; i++) _il.Emit(OpCodes.Pop);
            for (int i = 0; i < types.Length; i++) _il.Emit(OpCodes.Ldloc, Temp(types[i], i));
        }
        _il.Emit(OpCodes.Br, target.Target);
        if (target.Kind != 0x03) target.EndTargeted = true;
    }

    private bool NeedsAdjustment(ControlFrame target) => _stack.Count - target.LabelTypes.Length - target.Height != 0;

    private ControlFrame Frame(int depth) => _frames[_frames.Count - 1 - depth];

    private void Br()
    {
        EmitBranchTo(Frame(_r.ReadIndex()));
        GoDead();
    }

    private void BrIf()
    {
        var target = Frame(_r.ReadIndex());
        Pop();
        if (!NeedsAdjustment(target))
        {
            _il.Emit(OpCodes.Brtrue, target.Target);
            if (target.Kind != 0x03) target.EndTargeted = true;
            return;
        }
        var skip = _il.DefineLabel();
        _il.Emit(OpCodes.Brfalse, skip);
        EmitBranchTo(target);
        _il.MarkLabel(skip);
    }

    private void BrTable()
    {
        int n = _r.ReadIndex();
        var depths = new int[n];
        for (int i = 0; i < n; i++) depths[i] = _r.ReadIndex();
        int defaultDepth = _r.ReadIndex();
        Pop();
        var labels = new Label[n];
        var stubs = new Dictionary<int, Label>();
        for (int i = 0; i < n; i++)
        {
            var target = Frame(depths[i]);
            if (!NeedsAdjustment(target))
            {
                labels[i] = target.Target;
                if (target.Kind != 0x03) target.EndTargeted = true;
            }
            else
            {
                if (!stubs.TryGetValue(depths[i], out var stub)) stubs[depths[i]] = stub = _il.DefineLabel();
                labels[i] = stub;
            }
        }
        _il.Emit(OpCodes.Switch, labels);
        EmitBranchTo(Frame(defaultDepth));
        foreach (var (depth, stub) in stubs)
        {
            _il.MarkLabel(stub);
            EmitBranchTo(Frame(depth));
        }
        GoDead();
    }

    private void GoDead()
    {
        _dead = true;
        Truncate(_frames[^1].Height);
    }

    /// <summary>Returns the top results: the first as the CIL return value, the rest through the byref parameters.</summary>
    private void EmitReturn()
    {
        var results = _type.Results;
        int surplus = _stack.Count - results.Length;
        if (results.Length <= 1 && surplus == 0)
        {
            _il.Emit(OpCodes.Ret);
            return;
        }
        for (int i = results.Length - 1; i >= 0; i--) _il.Emit(OpCodes.Stloc, Temp(results[i], i));
        for (int i = 0; i < surplus; i++) _il.Emit(OpCodes.Pop);
        for (int i = 1; i < results.Length; i++)
        {
            _il.Emit(OpCodes.Ldarg, (short)(_type.Params.Length + i - 1));
            _il.Emit(OpCodes.Ldloc, Temp(results[i], i));
            _il.Emit(StoreIndirect(results[i]));
        }
        if (results.Length > 0) _il.Emit(OpCodes.Ldloc, Temp(results[0], 0));
        _il.Emit(OpCodes.Ret);
    }

    private void Return()
    {
        EmitReturn();
        GoDead();
    }

    private void Unreachable()
    {
        _il.Emit(OpCodes.Call, RuntimeMembers.UnreachableTrap);
        _il.Emit(OpCodes.Throw);
        GoDead();
    }

    private const int ResultSlotBase = 200;

    /// <summary>Pushes the addresses of the temps that receive results 2..n of a multi-value call.</summary>
    private void PrepareExtraResults(FuncType callee)
    {
        for (int i = 1; i < callee.Results.Length; i++) _il.Emit(OpCodes.Ldloca, Temp(callee.Results[i], ResultSlotBase + i));
    }

    private void FinishCall(FuncType callee)
    {
        Pop(callee.Params.Length);
        for (int i = 1; i < callee.Results.Length; i++) _il.Emit(OpCodes.Ldloc, Temp(callee.Results[i], ResultSlotBase + i));
        Push(callee.Results);
        ReloadMemory();
    }

    private void EmitCalli(FuncType callee) =>
        _il.EmitCalli(OpCodes.Calli, CallingConventions.Standard, Runtime.CallingConvention.ReturnType(callee),
            Runtime.CallingConvention.ParameterTypes(callee), null);

    private void Call()
    {
        int f = _r.ReadIndex();
        var callee = _m.FunctionType(f);
        PrepareExtraResults(callee);
        if (f >= _m.ImportedFunctionCount)
        {
            LoadContext();
            _il.Emit(OpCodes.Call, _module.Methods[f - _m.ImportedFunctionCount]);
        }
        else
        {
            LoadContext();
            _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextFunctions);
            LoadInt(f);
            _il.Emit(OpCodes.Ldelem_Ref);
            CallThroughFunctionObject(callee);
        }
        FinishCall(callee);
    }

    /// <summary>Stack: arguments, then the WasmFunction; calls it with its own instance context.</summary>
    private void CallThroughFunctionObject(FuncType callee)
    {
        var fn = FunctionTemp;
        _il.Emit(OpCodes.Stloc, fn);
        _il.Emit(OpCodes.Ldloc, fn);
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.FunctionContext);
        _il.Emit(OpCodes.Ldloc, fn);
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.FunctionPointer);
        EmitCalli(callee);
    }

    private void CallIndirect()
    {
        int typeIndex = _r.ReadIndex();
        int tableIndex = _r.ReadIndex();
        var callee = _m.Types[typeIndex];
        Pop();
        var index = Temp(ValType.I32, 100);
        _il.Emit(OpCodes.Stloc, index);
        PrepareExtraResults(callee);
        _il.Emit(OpCodes.Ldloc, index);
        LoadInt(callee.Id);
        LoadTable(tableIndex);
        _il.Emit(OpCodes.Call, RuntimeMembers.ResolveIndirect);
        CallThroughFunctionObject(callee);
        FinishCall(callee);
    }

    private void LoadTable(int tableIndex)
    {
        LoadContext();
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextTables);
        LoadInt(tableIndex);
        _il.Emit(OpCodes.Ldelem_Ref);
    }
}

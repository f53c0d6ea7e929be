using System.Reflection.Emit;
using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Compilation;

/// <summary>
/// Compiles one validated function body to CIL in a single pass. The Wasm operand stack is the CIL
/// evaluation stack; <see cref="_stack"/> mirrors its types so branches can drop surplus operands.
/// Code after an unconditional branch is skipped, not emitted (see RATIONALE.md).
/// </summary>
internal sealed partial class FunctionCompiler
{
    private sealed class ControlFrame
    {
        public byte Kind; // 0x02 block, 0x03 loop, 0x04 if, 0x05 else, 0x00 the function body
        public ValType[] Params = Array.Empty<ValType>();
        public ValType[] Results = Array.Empty<ValType>();
        public int Height; // operand stack height below the frame's parameters
        public Label Target; // loop: its start; otherwise: its end
        public Label Else; // if: the start of the else arm (or the end when there is none)
        public bool EndTargeted; // some branch goes to Target (blocks, ifs, the function)

        public ValType[] LabelTypes => Kind == 0x03 ? Params : Results;
    }

    private readonly ModuleCompiler _module;
    private readonly ModuleDefinition _m;
    private readonly ILGenerator _il;
    private readonly FuncType _type;
    private readonly List<ValType> _stack = new();
    private readonly List<ControlFrame> _frames = new();
    private readonly ValType[] _localTypes;
    private readonly LocalBuilder?[] _locals;
    private readonly Dictionary<(ValType, int), LocalBuilder> _temps = new();
    private readonly short _contextArg;
    private readonly bool _memory64;
    private LocalBuilder? _memoryBase;
    private LocalBuilder? _memoryLength;
    private LocalBuilder? _functionTemp;
    private WasmReader _r;
    private bool _dead;
    private int _deadDepth;

    public FunctionCompiler(ModuleCompiler module, DynamicMethod method, FuncType type, FunctionBody body)
    {
        _module = module;
        _m = module.Definition;
        _il = method.GetILGenerator(Math.Max(64, (body.CodeEnd - body.CodeStart) * 4));
        _type = type;
        _localTypes = new ValType[type.Params.Length + body.Locals.Length];
        type.Params.CopyTo(_localTypes, 0);
        body.Locals.CopyTo(_localTypes, type.Params.Length);
        _locals = new LocalBuilder?[_localTypes.Length];
        _contextArg = (short)(type.Params.Length + Math.Max(type.Results.Length - 1, 0));
        _memory64 = _m.Memories.Count > 0 && _m.Memories[0].Is64;
        _r = new WasmReader(_m.Bytes, body.CodeStart, body.CodeEnd, "code");
    }

    private bool HasMemory => _m.Memories.Count > 0;

    public void Compile()
    {
        for (int i = _type.Params.Length; i < _localTypes.Length; i++) _locals[i] = _il.DeclareLocal(_localTypes[i].ClrType());
        _il.Emit(OpCodes.Call, RuntimeMembers.CheckStack);
        if (HasMemory)
        {
            _memoryBase = _il.DeclareLocal(typeof(byte*));
            _memoryLength = _il.DeclareLocal(typeof(long));
            ReloadMemory();
        }
        _frames.Add(new ControlFrame { Kind = 0x00, Results = _type.Results, Target = _il.DefineLabel() });
        while (_frames.Count > 0)
        {
            byte op = _r.ReadByte();
            if (_dead) SkipDead(op);
            else Emit(op);
        }
    }

    private void SkipDead(byte op)
    {
        switch (op)
        {
            case 0x02: case 0x03: case 0x04:
                InstructionSkipper.SkipBlockType(ref _r);
                _deadDepth++;
                break;
            case 0x05:
                if (_deadDepth == 0) Else();
                break;
            case 0x0B:
                if (_deadDepth > 0) _deadDepth--;
                else End();
                break;
            default:
                InstructionSkipper.SkipImmediates(ref _r, op, _memory64);
                break;
        }
    }

    // --- operand stack mirror ---

    private void Push(ValType t) => _stack.Add(t);

    private ValType Pop()
    {
        var t = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return t;
    }

    private void Pop(int count) => _stack.RemoveRange(_stack.Count - count, count);

    private void Push(ValType[] types)
    {
        foreach (var t in types) _stack.Add(t);
    }

    private void Truncate(int height) => _stack.RemoveRange(height, _stack.Count - height);

    /// <summary>A scratch local; slots keep simultaneous uses apart (spills use 0..n, other sequences fixed slots).</summary>
    private LocalBuilder Temp(ValType type, int slot)
    {
        if (!_temps.TryGetValue((type, slot), out var local))
        {
            local = _il.DeclareLocal(type.ClrType());
            _temps[(type, slot)] = local;
        }
        return local;
    }

    private LocalBuilder FunctionTemp => _functionTemp ??= _il.DeclareLocal(typeof(Runtime.WasmFunction));

    private void LoadContext() => _il.Emit(OpCodes.Ldarg, _contextArg);

    private void LoadInt(int value) => _il.Emit(OpCodes.Ldc_I4, value);

    /// <summary>Compiled code caches the memory base and length; a call or memory.grow may change them.</summary>
    private void ReloadMemory()
    {
        if (!HasMemory) return;
        LoadContext();
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextMemory);
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.MemoryBase);
        _il.Emit(OpCodes.Stloc, _memoryBase!);
        LoadContext();
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextMemory);
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.MemoryLength);
        _il.Emit(OpCodes.Stloc, _memoryLength!);
    }

    private static OpCode StoreIndirect(ValType t) => t switch
    {
        ValType.I32 => OpCodes.Stind_I4,
        ValType.I64 => OpCodes.Stind_I8,
        ValType.F32 => OpCodes.Stind_R4,
        ValType.F64 => OpCodes.Stind_R8,
        _ => OpCodes.Stind_Ref,
    };
}

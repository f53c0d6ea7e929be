using System.Reflection.Emit;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Compilation;

internal sealed partial class FunctionCompiler
{
    /// <summary>Emits one instruction; the opcode map follows spec 5.4.</summary>
    private void Emit(byte op)
    {
        switch (op)
        {
            case 0x00: Unreachable(); break;
            case 0x01: break;
            case 0x02: case 0x03: case 0x04: Block(op); break;
            case 0x05: Else(); break;
            case 0x0B: End(); break;
            case 0x0C: Br(); break;
            case 0x0D: BrIf(); break;
            case 0x0E: BrTable(); break;
            case 0x0F: Return(); break;
            case 0x10: Call(); break;
            case 0x11: CallIndirect(); break;
            case 0x1A:
                Pop();
                _il.Emit(OpCodes.Pop);
                break;
            case 0x1B: Select(); break;
            case 0x1C:
            {
                int n = _r.ReadIndex();
                for (int i = 0; i < n; i++) _r.ReadByte();
                Select();
                break;
            }
            case 0x20: LocalGet(_r.ReadIndex()); break;
            case 0x21: LocalSet(_r.ReadIndex()); break;
            case 0x22: LocalTee(_r.ReadIndex()); break;
            case 0x23: GlobalGet(_r.ReadIndex()); break;
            case 0x24: GlobalSet(_r.ReadIndex()); break;
            case 0x25: TableGet(_r.ReadIndex()); break;
            case 0x26: TableSet(_r.ReadIndex()); break;
            case >= 0x28 and <= 0x3E: MemoryAccess(OpcodeTables.Memory[op]); break;
            case 0x3F: _r.ReadByte(); MemorySize(); break;
            case 0x40: _r.ReadByte(); MemoryGrow(); break;
            case 0x41:
                LoadInt(_r.ReadS32());
                Push(ValType.I32);
                break;
            case 0x42:
                _il.Emit(OpCodes.Ldc_I8, _r.ReadS64());
                Push(ValType.I64);
                break;
            case 0x43: F32Const(_r.ReadF32Bits()); break;
            case 0x44: F64Const(_r.ReadF64Bits()); break;
            case >= 0x45 and <= 0xC4: Numeric(op); break;
            case 0xD0:
                Push(Decoding.ModuleDecoder.ReadRefType(ref _r));
                _il.Emit(OpCodes.Ldnull);
                break;
            case 0xD1:
                Pop();
                _il.Emit(OpCodes.Ldnull);
                _il.Emit(OpCodes.Ceq);
                Push(ValType.I32);
                break;
            case 0xD2:
                LoadFunctionObject(_r.ReadIndex());
                Push(ValType.FuncRef);
                break;
            case 0xFC: MiscPrefix(_r.ReadU32()); break;
            case 0xFE: AtomicPrefix(_r.ReadU32()); break;
            default: throw new InvalidOperationException($"opcode 0x{op:x2} passed validation but has no compiler");
        }
    }

    private void Select()
    {
        Pop(); // condition
        Pop();
        var t = _stack[^1];
        var whenTrue = _il.DefineLabel();
        var end = _il.DefineLabel();
        _il.Emit(OpCodes.Brtrue, whenTrue);
        var second = Temp(t, 102);
        _il.Emit(OpCodes.Stloc, second);
        _il.Emit(OpCodes.Pop);
        _il.Emit(OpCodes.Ldloc, second);
        _il.Emit(OpCodes.Br, end);
        _il.MarkLabel(whenTrue);
        _il.Emit(OpCodes.Pop);
        _il.MarkLabel(end);
    }

    private void F32Const(uint bits)
    {
        float value = BitConverter.Int32BitsToSingle((int)bits);
        if (float.IsNaN(value))
        {
            // The JIT keeps float constants as doubles, which would quiet a signalling NaN: go through the bits.
            LoadInt((int)bits);
            _il.Emit(OpCodes.Call, RuntimeMembers.Numeric(nameof(Runtime.NumericHelpers.F32FromBits)));
        }
        else if (Runtime.FloatConstants.F32Field(bits) is { } field)
            _il.Emit(OpCodes.Ldsfld, typeof(Runtime.FloatConstants).GetField(field)!);
        else _il.Emit(OpCodes.Ldc_R4, value);
        Push(ValType.F32);
    }

    private void F64Const(ulong bits)
    {
        double value = BitConverter.Int64BitsToDouble((long)bits);
        if (double.IsNaN(value))
        {
            _il.Emit(OpCodes.Ldc_I8, (long)bits);
            _il.Emit(OpCodes.Call, RuntimeMembers.Numeric(nameof(Runtime.NumericHelpers.F64FromBits)));
        }
        else if (Runtime.FloatConstants.F64Field(bits) is { } field)
            _il.Emit(OpCodes.Ldsfld, typeof(Runtime.FloatConstants).GetField(field)!);
        else _il.Emit(OpCodes.Ldc_R8, value);
        Push(ValType.F64);
    }

    private void LoadFunctionObject(int index)
    {
        LoadContext();
        _il.Emit(OpCodes.Ldfld, RuntimeMembers.ContextFunctions);
        LoadInt(index);
        _il.Emit(OpCodes.Ldelem_Ref);
    }
}

using System.Reflection.Emit;
using Emulator.Wasm.Model;
using H = Emulator.Wasm.Runtime.NumericHelpers;

namespace Emulator.Wasm.Compilation;

/// <summary>
/// Numeric instructions (spec 4.3): one CIL opcode where its semantics match Wasm exactly (wrapping
/// integer arithmetic, IEEE float arithmetic, comparisons), a helper call where they do not.
/// </summary>
internal sealed partial class FunctionCompiler
{
    private void Numeric(byte op)
    {
        var sig = OpcodeTables.Numeric[op];
        Pop(sig.IsUnary ? 1 : 2);
        EmitNumeric(op);
        Push(sig.Result);
    }

    private void Op(OpCode a) => _il.Emit(a);

    private void Not()
    {
        _il.Emit(OpCodes.Ldc_I4_0);
        _il.Emit(OpCodes.Ceq);
    }

    private void Helper(string name) => _il.Emit(OpCodes.Call, RuntimeMembers.Numeric(name));

    /// <summary>Shift counts are taken modulo the width (spec 4.3.2 ishl); CIL leaves larger counts unspecified.</summary>
    private void Shift(OpCode shift, bool is64)
    {
        if (is64)
        {
            _il.Emit(OpCodes.Ldc_I8, 63L);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Conv_I4);
        }
        else
        {
            _il.Emit(OpCodes.Ldc_I4, 31);
            _il.Emit(OpCodes.And);
        }
        _il.Emit(shift);
    }

    private void EmitNumeric(byte op)
    {
        switch (op)
        {
            case 0x45: Op(OpCodes.Ldc_I4_0); Op(OpCodes.Ceq); break;
            case 0x50: _il.Emit(OpCodes.Ldc_I8, 0L); Op(OpCodes.Ceq); break;
            case 0x46: case 0x51: case 0x5B: case 0x61: Op(OpCodes.Ceq); break;
            case 0x47: case 0x52: case 0x5C: case 0x62: Op(OpCodes.Ceq); Not(); break;
            case 0x48: case 0x53: case 0x5D: case 0x63: Op(OpCodes.Clt); break;
            case 0x49: case 0x54: Op(OpCodes.Clt_Un); break;
            case 0x4A: case 0x55: case 0x5E: case 0x64: Op(OpCodes.Cgt); break;
            case 0x4B: case 0x56: Op(OpCodes.Cgt_Un); break;
            case 0x4C: case 0x57: Op(OpCodes.Cgt); Not(); break;
            case 0x4D: case 0x58: Op(OpCodes.Cgt_Un); Not(); break;
            case 0x4E: case 0x59: Op(OpCodes.Clt); Not(); break;
            case 0x4F: case 0x5A: Op(OpCodes.Clt_Un); Not(); break;
            // Float le/ge must be false on NaN: "not (a > b or unordered)".
            case 0x5F: case 0x65: Op(OpCodes.Cgt_Un); Not(); break;
            case 0x60: case 0x66: Op(OpCodes.Clt_Un); Not(); break;

            case 0x67: Helper(nameof(H.I32Clz)); break;
            case 0x68: Helper(nameof(H.I32Ctz)); break;
            case 0x69: Helper(nameof(H.I32Popcnt)); break;
            case 0x6A: case 0x7C: case 0x92: case 0xA0: Op(OpCodes.Add); break;
            case 0x6B: case 0x7D: case 0x93: case 0xA1: Op(OpCodes.Sub); break;
            case 0x6C: case 0x7E: case 0x94: case 0xA2: Op(OpCodes.Mul); break;
            case 0x6D: Helper(nameof(H.I32DivS)); break;
            case 0x6E: Helper(nameof(H.I32DivU)); break;
            case 0x6F: Helper(nameof(H.I32RemS)); break;
            case 0x70: Helper(nameof(H.I32RemU)); break;
            case 0x71: case 0x83: Op(OpCodes.And); break;
            case 0x72: case 0x84: Op(OpCodes.Or); break;
            case 0x73: case 0x85: Op(OpCodes.Xor); break;
            case 0x74: Shift(OpCodes.Shl, false); break;
            case 0x75: Shift(OpCodes.Shr, false); break;
            case 0x76: Shift(OpCodes.Shr_Un, false); break;
            case 0x77: Helper(nameof(H.I32Rotl)); break;
            case 0x78: Helper(nameof(H.I32Rotr)); break;

            case 0x79: Helper(nameof(H.I64Clz)); break;
            case 0x7A: Helper(nameof(H.I64Ctz)); break;
            case 0x7B: Helper(nameof(H.I64Popcnt)); break;
            case 0x7F: Helper(nameof(H.I64DivS)); break;
            case 0x80: Helper(nameof(H.I64DivU)); break;
            case 0x81: Helper(nameof(H.I64RemS)); break;
            case 0x82: Helper(nameof(H.I64RemU)); break;
            case 0x86: Shift(OpCodes.Shl, true); break;
            case 0x87: Shift(OpCodes.Shr, true); break;
            case 0x88: Shift(OpCodes.Shr_Un, true); break;
            case 0x89: Helper(nameof(H.I64Rotl)); break;
            case 0x8A: Helper(nameof(H.I64Rotr)); break;

            case 0x8B: Helper(nameof(H.F32Abs)); break;
            case 0x8C: Helper(nameof(H.F32Neg)); break;
            case 0x8D: Helper(nameof(H.F32Ceil)); break;
            case 0x8E: Helper(nameof(H.F32Floor)); break;
            case 0x8F: Helper(nameof(H.F32Trunc)); break;
            case 0x90: Helper(nameof(H.F32Nearest)); break;
            case 0x91: Helper(nameof(H.F32Sqrt)); break;
            case 0x95: case 0xA3: Op(OpCodes.Div); break;
            case 0x96: Helper(nameof(H.F32Min)); break;
            case 0x97: Helper(nameof(H.F32Max)); break;
            case 0x98: Helper(nameof(H.F32Copysign)); break;

            case 0x99: Helper(nameof(H.F64Abs)); break;
            case 0x9A: Helper(nameof(H.F64Neg)); break;
            case 0x9B: Helper(nameof(H.F64Ceil)); break;
            case 0x9C: Helper(nameof(H.F64Floor)); break;
            case 0x9D: Helper(nameof(H.F64Trunc)); break;
            case 0x9E: Helper(nameof(H.F64Nearest)); break;
            case 0x9F: Helper(nameof(H.F64Sqrt)); break;
            case 0xA4: Helper(nameof(H.F64Min)); break;
            case 0xA5: Helper(nameof(H.F64Max)); break;
            case 0xA6: Helper(nameof(H.F64Copysign)); break;

            case 0xA7: Op(OpCodes.Conv_I4); break;
            case 0xA8: Helper(nameof(H.I32TruncF32S)); break;
            case 0xA9: Helper(nameof(H.I32TruncF32U)); break;
            case 0xAA: Helper(nameof(H.I32TruncF64S)); break;
            case 0xAB: Helper(nameof(H.I32TruncF64U)); break;
            case 0xAC: Op(OpCodes.Conv_I8); break;
            case 0xAD: Op(OpCodes.Conv_U8); break;
            case 0xAE: Helper(nameof(H.I64TruncF32S)); break;
            case 0xAF: Helper(nameof(H.I64TruncF32U)); break;
            case 0xB0: Helper(nameof(H.I64TruncF64S)); break;
            case 0xB1: Helper(nameof(H.I64TruncF64U)); break;
            case 0xB2: case 0xB4: Op(OpCodes.Conv_R4); break;
            case 0xB6: Helper(nameof(H.F32DemoteF64)); break;
            case 0xB3: Helper(nameof(H.F32ConvertI32U)); break;
            case 0xB5: Helper(nameof(H.F32ConvertI64U)); break;
            case 0xB7: case 0xB9: case 0xBB: Op(OpCodes.Conv_R8); break;
            case 0xB8: Helper(nameof(H.F64ConvertI32U)); break;
            case 0xBA: Helper(nameof(H.F64ConvertI64U)); break;
            case 0xBC: Helper(nameof(H.I32ReinterpretF32)); break;
            case 0xBD: Helper(nameof(H.I64ReinterpretF64)); break;
            case 0xBE: Helper(nameof(H.F32ReinterpretI32)); break;
            case 0xBF: Helper(nameof(H.F64ReinterpretI64)); break;

            case 0xC0: Op(OpCodes.Conv_I1); break;
            case 0xC1: Op(OpCodes.Conv_I2); break;
            case 0xC2: Op(OpCodes.Conv_I1); Op(OpCodes.Conv_I8); break;
            case 0xC3: Op(OpCodes.Conv_I2); Op(OpCodes.Conv_I8); break;
            case 0xC4: Op(OpCodes.Conv_I4); Op(OpCodes.Conv_I8); break;
            default: throw new InvalidOperationException($"numeric opcode 0x{op:x2} has no compiler");
        }
    }

    private static readonly string[] s_saturating =
    {
        nameof(H.I32TruncSatF32S), nameof(H.I32TruncSatF32U), nameof(H.I32TruncSatF64S), nameof(H.I32TruncSatF64U),
        nameof(H.I64TruncSatF32S), nameof(H.I64TruncSatF32U), nameof(H.I64TruncSatF64S), nameof(H.I64TruncSatF64U),
    };

    private void SaturatingTruncation(uint sub)
    {
        Pop();
        Helper(s_saturating[sub]);
        Push(OpcodeTables.SaturatingTruncation[sub].Result);
    }
}

using Emulator.Wasm.Decoding;
using Emulator.Wasm.Model;

namespace Emulator.Wasm.Validation;

internal sealed partial class FunctionValidator
{
    /// <summary>Applies the typing rule of one instruction (spec 3.3).</summary>
    private void Step(byte op, FuncType function)
    {
        switch (op)
        {
            case 0x00: Unreachable(); break;
            case 0x01: break;
            case 0x02:
            case 0x03:
            {
                var (ps, rs) = ReadBlockType();
                PopVals(ps);
                PushCtrl(op, ps, rs);
                break;
            }
            case 0x04:
            {
                var (ps, rs) = ReadBlockType();
                PopVal(ValType.I32);
                PopVals(ps);
                PushCtrl(op, ps, rs);
                break;
            }
            case 0x05:
            {
                var frame = PopCtrl();
                if (frame.Opcode != 0x04) Fail("else without matching if");
                PushCtrl(0x05, frame.StartTypes, frame.EndTypes);
                break;
            }
            case 0x0B:
            {
                var frame = PopCtrl();
                if (frame.Opcode == 0x04 && !frame.StartTypes.AsSpan().SequenceEqual(frame.EndTypes))
                    Fail("type mismatch: if without else must leave its parameters");
                PushVals(frame.EndTypes);
                break;
            }
            case 0x0C:
            {
                var label = Label(_r.ReadIndex());
                PopVals(LabelTypes(label));
                Unreachable();
                break;
            }
            case 0x0D:
            {
                var label = Label(_r.ReadIndex());
                PopVal(ValType.I32);
                var types = LabelTypes(label);
                PopVals(types);
                PushVals(types);
                break;
            }
            case 0x0E: BrTable(); break;
            case 0x0F:
                PopVals(function.Results);
                Unreachable();
                break;
            case 0x10:
            {
                var ft = FunctionType(_r.ReadIndex());
                PopVals(ft.Params);
                PushVals(ft.Results);
                break;
            }
            case 0x11:
            {
                int typeIndex = _r.ReadIndex();
                int tableIndex;
                if (M.Features.ReferenceTypes) tableIndex = _r.ReadIndex();
                else if ((tableIndex = _r.ReadByte()) != 0) Malformed("zero flag expected");
                var table = Table(tableIndex);
                if (table.ElementType != ValType.FuncRef) Fail("type mismatch: call_indirect needs a funcref table");
                if ((uint)typeIndex >= (uint)M.Types.Count) Fail("unknown type");
                var ft = M.Types[typeIndex];
                PopVal(ValType.I32);
                PopVals(ft.Params);
                PushVals(ft.Results);
                break;
            }
            case 0x1A: PopVal(); break;
            case 0x1B:
            {
                PopVal(ValType.I32);
                var t1 = PopVal();
                var t2 = PopVal();
                bool num1 = t1.IsNumeric() || t1 == ValType.Unknown;
                bool num2 = t2.IsNumeric() || t2 == ValType.Unknown;
                if (!num1 || !num2) Fail("type mismatch: select without type needs numeric operands");
                if (t1 != t2 && t1 != ValType.Unknown && t2 != ValType.Unknown) Fail("type mismatch: select operands differ");
                PushVal(t1 == ValType.Unknown ? t2 : t1);
                break;
            }
            case 0x1C:
            {
                int n = _r.ReadIndex();
                if (n != 1) Fail("invalid result arity");
                var t = ModuleDecoder.ReadValType(ref _r);
                PopVal(ValType.I32);
                PopVal(t);
                PopVal(t);
                PushVal(t);
                break;
            }
            case 0x20: PushVal(Local(_r.ReadIndex())); break;
            case 0x21: PopVal(Local(_r.ReadIndex())); break;
            case 0x22:
            {
                var t = Local(_r.ReadIndex());
                PopVal(t);
                PushVal(t);
                break;
            }
            case 0x23: PushVal(Global(_r.ReadIndex()).Type); break;
            case 0x24:
            {
                var g = Global(_r.ReadIndex());
                if (!g.Mutable) Fail("global is immutable");
                PopVal(g.Type);
                break;
            }
            case 0x25:
            {
                var t = Table(_r.ReadIndex());
                PopVal(ValType.I32);
                PushVal(t.ElementType);
                break;
            }
            case 0x26:
            {
                var t = Table(_r.ReadIndex());
                PopVal(t.ElementType);
                PopVal(ValType.I32);
                break;
            }
            case >= 0x28 and <= 0x3E:
            {
                var access = OpcodeTables.Memory[op];
                ReadMemArg(access.NaturalAlignmentLog2, atomic: false);
                if (access.IsStore)
                {
                    PopVal(access.Type);
                    PopVal(_c.AddressType);
                }
                else
                {
                    PopVal(_c.AddressType);
                    PushVal(access.Type);
                }
                break;
            }
            case 0x3F:
                ReadZeroByte();
                RequireMemory();
                PushVal(_c.AddressType);
                break;
            case 0x40:
                ReadZeroByte();
                RequireMemory();
                PopVal(_c.AddressType);
                PushVal(_c.AddressType);
                break;
            case 0x41: _r.ReadS32(); PushVal(ValType.I32); break;
            case 0x42: _r.ReadS64(); PushVal(ValType.I64); break;
            case 0x43: _r.ReadF32Bits(); PushVal(ValType.F32); break;
            case 0x44: _r.ReadF64Bits(); PushVal(ValType.F64); break;
            case >= 0x45 and <= 0xC4:
                Numeric(OpcodeTables.Numeric[op]);
                break;
            case 0xD0: PushVal(ModuleDecoder.ReadRefType(ref _r)); break;
            case 0xD1:
            {
                var t = PopVal();
                if (!t.IsReference() && t != ValType.Unknown) Fail("type mismatch: ref.is_null needs a reference");
                PushVal(ValType.I32);
                break;
            }
            case 0xD2:
            {
                int f = _r.ReadIndex();
                FunctionType(f);
                if (!_c.DeclaredFunctionReferences.Contains(f)) Fail("undeclared function reference");
                PushVal(ValType.FuncRef);
                break;
            }
            case 0xFC: MiscPrefix(); break;
            case 0xFD:
                throw new WasmModuleException(ModuleErrorKind.Unsupported, "code", _opStart, "SIMD (v128) instructions are not supported by this engine");
            case 0xFE:
                if (!M.Features.Threads) Malformed("illegal opcode 0xfe (threads are not enabled)");
                AtomicPrefix();
                break;
            default:
                Malformed($"illegal opcode 0x{op:x2}");
                break;
        }
    }

    private void Numeric(NumericSignature sig)
    {
        if (!sig.IsUnary) PopVal(sig.Second);
        PopVal(sig.First);
        PushVal(sig.Result);
    }

    private void BrTable()
    {
        int n = _r.ReadIndex();
        if (n > _r.End - _r.Position) Malformed("unexpected end");
        Span<int> labels = n <= 256 ? stackalloc int[n] : new int[n];
        for (int i = 0; i < n; i++) labels[i] = _r.ReadIndex();
        int defaultDepth = _r.ReadIndex();
        PopVal(ValType.I32);
        var defaultTypes = LabelTypes(Label(defaultDepth));
        int arity = defaultTypes.Length;
        foreach (int depth in labels)
        {
            var types = LabelTypes(Label(depth));
            if (types.Length != arity) Fail("type mismatch: br_table labels differ in arity");
            // Each target is checked against the current stack, which is then restored (spec A.3, br_table).
            var popped = new ValType[arity];
            for (int i = arity - 1; i >= 0; i--) popped[i] = PopVal(types[i]);
            foreach (var t in popped) PushVal(t);
        }
        PopVals(defaultTypes);
        Unreachable();
    }

    private void MiscPrefix()
    {
        uint sub = _r.ReadU32();
        switch (sub)
        {
            case <= 7: Numeric(OpcodeTables.SaturatingTruncation[sub]); break;
            case 8:
            {
                int data = _r.ReadIndex();
                ReadZeroByte();
                RequireMemory();
                CheckDataIndex(data);
                PopVal(ValType.I32);
                PopVal(ValType.I32);
                PopVal(_c.AddressType);
                break;
            }
            case 9: CheckDataIndex(_r.ReadIndex()); break;
            case 10:
                ReadZeroByte();
                ReadZeroByte();
                RequireMemory();
                PopVal(_c.AddressType);
                PopVal(_c.AddressType);
                PopVal(_c.AddressType);
                break;
            case 11:
                ReadZeroByte();
                RequireMemory();
                PopVal(_c.AddressType);
                PopVal(ValType.I32);
                PopVal(_c.AddressType);
                break;
            case 12:
            {
                var seg = Element(_r.ReadIndex());
                var table = Table(_r.ReadIndex());
                if (seg.ElementType != table.ElementType) Fail("type mismatch: element segment and table types differ");
                PopVal(ValType.I32);
                PopVal(ValType.I32);
                PopVal(ValType.I32);
                break;
            }
            case 13: Element(_r.ReadIndex()); break;
            case 14:
            {
                var dst = Table(_r.ReadIndex());
                var src = Table(_r.ReadIndex());
                if (dst.ElementType != src.ElementType) Fail("type mismatch: table element types differ");
                PopVal(ValType.I32);
                PopVal(ValType.I32);
                PopVal(ValType.I32);
                break;
            }
            case 15:
            {
                var t = Table(_r.ReadIndex());
                PopVal(ValType.I32);
                PopVal(t.ElementType);
                PushVal(ValType.I32);
                break;
            }
            case 16: Table(_r.ReadIndex()); PushVal(ValType.I32); break;
            case 17:
            {
                var t = Table(_r.ReadIndex());
                PopVal(ValType.I32);
                PopVal(t.ElementType);
                PopVal(ValType.I32);
                break;
            }
            default: Malformed($"illegal opcode 0xfc {sub}"); break;
        }
    }

    /// <summary>The threads proposal's atomic instructions (0xFE prefix).</summary>
    private void AtomicPrefix()
    {
        uint sub = _r.ReadU32();
        var addr = _c.AddressType;
        switch (sub)
        {
            case 0x00:
                ReadMemArg(2, atomic: true);
                PopVal(ValType.I32);
                PopVal(addr);
                PushVal(ValType.I32);
                return;
            case 0x01:
                ReadMemArg(2, atomic: true);
                PopVal(ValType.I64);
                PopVal(ValType.I32);
                PopVal(addr);
                PushVal(ValType.I32);
                return;
            case 0x02:
                ReadMemArg(3, atomic: true);
                PopVal(ValType.I64);
                PopVal(ValType.I64);
                PopVal(addr);
                PushVal(ValType.I32);
                return;
            case 0x03:
                ReadZeroByte();
                return;
        }
        if (sub >= (uint)OpcodeTables.Atomic.Length || OpcodeTables.Atomic[sub].Kind == AtomicKind.None)
            Malformed($"illegal opcode 0xfe {sub}");
        var a = OpcodeTables.Atomic[sub];
        ReadMemArg(a.Size switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 }, atomic: true);
        switch (a.Kind)
        {
            case AtomicKind.Load:
                PopVal(addr);
                PushVal(a.Type);
                break;
            case AtomicKind.Store:
                PopVal(a.Type);
                PopVal(addr);
                break;
            case AtomicKind.CompareExchange:
                PopVal(a.Type);
                PopVal(a.Type);
                PopVal(addr);
                PushVal(a.Type);
                break;
            default:
                PopVal(a.Type);
                PopVal(addr);
                PushVal(a.Type);
                break;
        }
    }
}
